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

output "image_signing_key_uri" {
  description = "The image signing key as cosign names it: azurekms://<vault>.vault.azure.net/<key>."
  value       = "azurekms://${azurerm_key_vault.this.name}.vault.azure.net/${azurerm_key_vault_key.image_signing.name}"
}
