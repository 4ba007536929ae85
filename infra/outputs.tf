output "environment" {
  description = "The environment this state belongs to."
  value       = var.environment
}

output "resource_group_name" {
  description = "Resource group of the environment."
  value       = azurerm_resource_group.this.name
}

output "registry_login_server" {
  description = "Registry host images are pushed to and pulled from."
  value       = module.acr.login_server
}

output "cluster_name" {
  description = "AKS cluster name (az aks get-credentials --name)."
  value       = module.aks.name
}

output "cluster_private" {
  description = "Whether the API server is reachable only from inside the VNet."
  value       = module.aks.private_cluster
}

output "aks_oidc_issuer_url" {
  description = "The cluster's OIDC issuer: the Entra app registration's federated credential trusts its service account tokens (invoke azure.entra)."
  value       = module.aks.oidc_issuer_url
}

output "key_vault_name" {
  description = "Key Vault the SecretProviderClass reads from."
  value       = module.key_vault.name
}

output "key_vault_secret_names" {
  description = "Secrets in the vault: django-secret-key, card-fingerprint-key, database-password, teams-webhook-url."
  value       = module.key_vault.secret_names
}

output "alarms_action_group_id" {
  description = "The Azure Monitor action group whose Teams receiver invoke azure.secrets sets from Key Vault's teams-webhook-url."
  value       = module.alerts.action_group_id
}

output "tenant_id" {
  description = "Entra ID tenant (the SecretProviderClass's tenantId)."
  value       = data.azurerm_client_config.current.tenant_id
}

output "workload_identity_client_id" {
  description = "Client ID of the app's identity (the service account annotation azure.workload.identity/client-id)."
  value       = azurerm_user_assigned_identity.app.client_id
}

output "workload_identity_service_account" {
  description = "namespace/name of the service account the app's identity trusts."
  value       = "${local.app_namespace}/${local.app_service_account}"
}

output "database_host" {
  description = "Private FQDN of the database server."
  value       = module.database.host
}

output "database_port" {
  description = "TCP port of the database."
  value       = module.database.port
}

output "database_name" {
  description = "The app's database."
  value       = module.database.database_name
}

output "database_user" {
  description = "Database user; the password is the Key Vault secret database-password."
  value       = module.database.administrator_login
}

output "ingress_public_ip" {
  description = "Public IP of the application gateway."
  value       = module.app_gateway.public_ip_address
}

output "ingress_exposure" {
  description = "public or internal (env.yaml azure.ingress.exposure)."
  value       = module.dns.exposure
}

output "ingress_private_ip" {
  description = "The gateway's private frontend address, where an internal environment's hosts resolve inside the VNet; null when public."
  value       = module.app_gateway.private_ip_address
}

output "subscription_id" {
  description = "The subscription of the environment's public DNS zone (the DNS-01 ClusterIssuers' subscriptionID)."
  value       = data.azurerm_client_config.current.subscription_id
}

output "cert_manager_client_id" {
  description = "Client ID of the identity cert-manager answers DNS-01 challenges as (the ClusterIssuers' managedIdentity.clientID); null when public."
  value       = one(azurerm_user_assigned_identity.cert_manager[*].client_id)
}

output "dns_name_servers" {
  description = "Name servers to delegate the environment's DNS zone to."
  value       = module.dns.name_servers
}

output "azure_monitor_alarms" {
  description = "The Azure Monitor alarms on the cluster: threshold, window and severity by alert name."
  value       = module.alerts.alarms
}
