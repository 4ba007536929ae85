locals {
  # env.yaml is decoded here, once; modules receive typed values and never read files.
  # ops/envconfig.py validates the same file (with clearer messages) before any tf task runs.
  environments = yamldecode(file("${path.module}/env.yaml")).environments
  env          = local.environments[var.environment]
  azure        = local.env.azure

  name = "${local.env.app.name}-${var.environment}"

  # Left out of env.yaml: the environment's kubernetes.version, the minor the local cluster runs
  # (ops/envconfig.py fills in the same and refuses a minor past its end of AKS standard support).
  aks_kubernetes_version = coalesce(try(local.azure.aks.kubernetes_version, null), local.env.kubernetes.version)

  # The CI runners' public egress ranges (empty where they run inside the VNet) are admitted
  # wherever the jobs reach in from the internet: the registry (image push), the vault (apply
  # writes the secrets, the secrets stage reads them) and a public API server (kubectl).
  runner_ip_ranges = local.azure.runners.ip_ranges
  # A private API server has no public endpoint to admit anyone to.
  api_server_ip_ranges = local.azure.aks.private_cluster ? [] : distinct(concat(lookup(local.azure.aks, "authorized_ip_ranges", []), local.runner_ip_ranges))
  vault_ip_ranges      = distinct(concat(lookup(local.azure.key_vault, "deployer_ip_ranges", []), local.runner_ip_ranges))

  tags = {
    application = local.env.app.name
    environment = var.environment
    managed-by  = "terraform"
  }

  # The pod's Kubernetes service account that may act as the app's Azure identity.
  app_namespace       = local.env.kubernetes.namespace
  app_service_account = local.env.app.name

  # Host names the public DNS zone points at the application gateway: the app and Grafana, the
  # ones with an ingress. Prometheus has no authentication of its own and no ingress on Azure
  # (monitoring/kube-prometheus-stack/values-<env>.yaml), so no record either.
  public_hosts = toset(concat(
    local.env.app.hosts,
    [local.env.monitoring.grafana_host],
  ))

  # env.yaml's azure.ingress.exposure: internal, where the gateway listens only on its private
  # address and the hosts resolve only inside the VNet; left out, the dns module's default (public).
  internal = try(local.azure.ingress.exposure, null) == "internal"

  # cert-manager's controller (manifests/addons/cert-manager.yaml: release and namespace
  # cert-manager) answers internal environments' DNS-01 challenges as its own Azure identity.
  cert_manager_namespace       = "cert-manager"
  cert_manager_service_account = "cert-manager"

  # Alert descriptions link here (#<alert name in lower case>); the same base as the Prometheus
  # alerts' runbook_url (ops/monitoring/layout.py RUNBOOK_BASE, kept equal by a test).
  runbook_url = "https://github.com/orderdesk/orderdesk/blob/main/monitoring/runbooks.md"
}
