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

  tags = {
    application = local.env.app.name
    environment = var.environment
    managed-by  = "terraform"
  }

  # The pod's Kubernetes service account that may act as the app's Azure identity.
  app_namespace       = local.env.kubernetes.namespace
  app_service_account = local.env.app.name

  # Host names the public DNS zone points at the application gateway.
  public_hosts = toset(concat(
    local.env.app.hosts,
    [local.env.monitoring.grafana_host, local.env.monitoring.prometheus_host],
  ))

  # Alert descriptions link here (#<alert name in lower case>); the same base as the Prometheus
  # alerts' runbook_url (ops/monitoring/layout.py RUNBOOK_BASE, kept equal by a test).
  runbook_url = "https://github.com/orderdesk/orderdesk/blob/main/monitoring/runbooks.md"
}
