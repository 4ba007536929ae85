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
