# Who may do what, in one place: each grant names the narrowest scope that works.

# The app's pods act as this identity through AKS workload identity (no secrets in the pod).
resource "azurerm_user_assigned_identity" "app" {
  name                = "id-${local.name}-app"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "app" {
  name                      = "aks-${local.app_namespace}-${local.app_service_account}"
  user_assigned_identity_id = azurerm_user_assigned_identity.app.id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = module.aks.oidc_issuer_url
  subject                   = "system:serviceaccount:${local.app_namespace}:${local.app_service_account}"
}

# The app reads its secrets (mounted by the Key Vault secrets provider) and nothing else.
resource "azurerm_role_assignment" "app_key_vault_secrets_user" {
  scope                = module.key_vault.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# Nodes pull images with the kubelet identity; no registry password anywhere.
resource "azurerm_role_assignment" "kubelet_acr_pull" {
  scope                = module.acr.id
  role_definition_name = "AcrPull"
  principal_id         = module.aks.kubelet_identity_object_id
  principal_type       = "ServicePrincipal"
}

# The ingress add-on (AGIC) rewrites the gateway, reads the resource group it lives in, and joins
# the gateway's subnet.
resource "azurerm_role_assignment" "ingress_gateway_contributor" {
  scope                = module.app_gateway.id
  role_definition_name = "Contributor"
  principal_id         = module.aks.ingress_identity_object_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "ingress_resource_group_reader" {
  scope                = azurerm_resource_group.this.id
  role_definition_name = "Reader"
  principal_id         = module.aks.ingress_identity_object_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "ingress_subnet_network_contributor" {
  scope                = module.network.subnet_ids["appgw"]
  role_definition_name = "Network Contributor"
  principal_id         = module.aks.ingress_identity_object_id
  principal_type       = "ServicePrincipal"
}

# The deploy identity applies the manifests, cert-manager and the monitoring CRDs with kubectl and
# helm. Local accounts are off and Azure RBAC decides (learn.microsoft.com/azure/aks/manage-azure-rbac):
# it needs the cluster-admin role of AKS RBAC, and the Cluster User role to fetch a kubeconfig
# (az aks get-credentials lists the user credentials).
resource "azurerm_role_assignment" "deployer_cluster_admin" {
  scope                = module.aks.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = local.azure.identities.deploy_object_id
}

resource "azurerm_role_assignment" "deployer_cluster_user" {
  scope                = module.aks.id
  role_definition_name = "Azure Kubernetes Service Cluster User Role"
  principal_id         = local.azure.identities.deploy_object_id
}

# The deploy identity pushes the app's images.
resource "azurerm_role_assignment" "deployer_acr_push" {
  scope                = module.acr.id
  role_definition_name = "AcrPush"
  principal_id         = local.azure.identities.deploy_object_id
}

# Refreshing the cluster lists its user credentials (azurerm's kubernetes_cluster read calls
# ListClusterUserCredentials), which Reader does not allow: the plan identity gets the Cluster
# User role, which grants that and nothing inside the cluster.
resource "azurerm_role_assignment" "planner_cluster_user" {
  scope                = module.aks.id
  role_definition_name = "Azure Kubernetes Service Cluster User Role"
  principal_id         = local.azure.identities.plan_object_id
}

# Internal environments: no listener faces the internet, so Let's Encrypt cannot check an HTTP-01
# challenge; cert-manager answers DNS-01 instead, writing TXT records in the public zone as this
# identity through workload identity (cert-manager.io/docs/configuration/acme/dns01/azuredns).
resource "azurerm_user_assigned_identity" "cert_manager" {
  count = local.internal ? 1 : 0

  name                = "id-${local.name}-cert-manager"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "cert_manager" {
  count = local.internal ? 1 : 0

  name                      = "aks-${local.cert_manager_namespace}-${local.cert_manager_service_account}"
  user_assigned_identity_id = azurerm_user_assigned_identity.cert_manager[0].id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = module.aks.oidc_issuer_url
  subject                   = "system:serviceaccount:${local.cert_manager_namespace}:${local.cert_manager_service_account}"
}

# Only the environment's own public zone, where the challenges' TXT records go.
resource "azurerm_role_assignment" "cert_manager_dns_zone_contributor" {
  count = local.internal ? 1 : 0

  scope                = module.dns.zone_id
  role_definition_name = "DNS Zone Contributor"
  principal_id         = azurerm_user_assigned_identity.cert_manager[0].principal_id
  principal_type       = "ServicePrincipal"
}
