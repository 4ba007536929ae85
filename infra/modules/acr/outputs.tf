output "id" {
  description = "ID of the registry (scope of the AcrPull role assignment)."
  value       = azurerm_container_registry.this.id
}

output "name" {
  description = "Name of the registry."
  value       = azurerm_container_registry.this.name
}

output "login_server" {
  description = "Registry host for image names and docker login, e.g. acrorderdeskdev.azurecr.io."
  value       = azurerm_container_registry.this.login_server
}

output "allowed_ip_ranges" {
  description = "Public CIDRs the registry's firewall admits (the pushing runners); empty: no public endpoint."
  # The provider leaves ip_rule null (not empty) on a registry without public access.
  value = [for rule in coalesce(azurerm_container_registry.this.network_rule_set[0].ip_rule, []) : rule.ip_range]
}
