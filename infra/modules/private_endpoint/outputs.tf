output "id" {
  description = "ID of the private endpoint."
  value       = azurerm_private_endpoint.this.id
}

output "subnet_id" {
  description = "Subnet the endpoint's private IP comes from."
  value       = azurerm_private_endpoint.this.subnet_id
}

output "subresource_names" {
  description = "The private link sub-resources the endpoint connects, e.g. [\"registry\"]."
  value       = azurerm_private_endpoint.this.private_service_connection[0].subresource_names
}

output "private_dns_zone_name" {
  description = "The privatelink zone the endpoint registers in."
  value       = azurerm_private_dns_zone.this.name
}

output "private_dns_zone_id" {
  description = "ID of the privatelink zone."
  value       = azurerm_private_dns_zone.this.id
}

output "linked_virtual_network_id" {
  description = "VNet whose clients resolve the resource through the zone."
  value       = azurerm_private_dns_zone_virtual_network_link.this.virtual_network_id
}
