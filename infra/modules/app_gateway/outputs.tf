output "id" {
  description = "ID of the application gateway (given to the AKS ingress add-on)."
  value       = azurerm_application_gateway.this.id
}

output "name" {
  description = "Name of the application gateway."
  value       = azurerm_application_gateway.this.name
}

output "public_ip_address" {
  description = "The gateway's public IPv4 address; the app's DNS records point here."
  value       = azurerm_public_ip.frontend.ip_address
}

output "private_ip_address" {
  description = "The gateway's private frontend address, where an internal environment's DNS records point; null when public."
  value       = var.private_ip_address
}

output "listener_frontend" {
  description = "The frontend IP configuration the listeners use: public, or private for an internal gateway."
  value       = local.listener_frontend
}
