output "vault_uri" {
  description = "The vault's data-plane URI."
  value       = module.key_vault.vault_uri
}
