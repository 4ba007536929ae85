output "zone_id" {
  description = "ID of the DNS zone."
  value       = azurerm_dns_zone.this.id
}

output "name_servers" {
  description = "Name servers to delegate the zone to, at the parent zone's registrar."
  value       = azurerm_dns_zone.this.name_servers
}

output "fqdns" {
  description = "Host name -> record FQDN for every record created."
  value       = { for host, record in azurerm_dns_a_record.host : host => record.fqdn }
}
