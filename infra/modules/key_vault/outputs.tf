output "id" {
  description = "ID of the vault (scope of the Key Vault Secrets User role assignment)."
  value       = azurerm_key_vault.this.id
}

output "name" {
  description = "Name of the vault (the SecretProviderClass's keyvaultName)."
  value       = azurerm_key_vault.this.name
}

output "vault_uri" {
  description = "Data-plane URI, e.g. https://kv-orderdesk-dev.vault.azure.net/."
  value       = azurerm_key_vault.this.vault_uri
}

output "secret_names" {
  description = "Names of the secrets stored in the vault."
  value       = sort([for secret in azurerm_key_vault_secret.this : secret.name])
}

output "secret_versions" {
  description = "The version of each secret's write-only value in force, by name."
  value       = { for name, secret in azurerm_key_vault_secret.this : name => secret.value_wo_version }
}

output "image_signing_key_uri" {
  description = "The image signing key as cosign names it: azurekms://<vault>.vault.azure.net/<key>."
  value       = "azurekms://${azurerm_key_vault.this.name}.vault.azure.net/${azurerm_key_vault_key.image_signing.name}"
}

output "allowed_ip_ranges" {
  description = "Public CIDRs the vault's firewall admits; empty: no public access."
  value       = azurerm_key_vault.this.network_acls[0].ip_rules
}

output "data_plane_roles" {
  description = "Object ids holding each data-plane role on the vault: the writer (apply) and the readers (plan)."
  value = {
    "Key Vault Secrets Officer" = [azurerm_role_assignment.deployer_secrets_officer.principal_id]
    "Key Vault Crypto Officer"  = [azurerm_role_assignment.deployer_crypto_officer.principal_id]
    "Key Vault Secrets User"    = sort([for assignment in azurerm_role_assignment.planner_secrets_user : assignment.principal_id])
    "Key Vault Reader"          = sort([for assignment in azurerm_role_assignment.planner_reader : assignment.principal_id])
  }
}
