output "zone_id" {
  description = "ID of the DNS zone."
  value       = azurerm_dns_zone.this.id
}

output "name_servers" {
  description = "Name servers to delegate the zone to, at the parent zone's registrar."
  value       = azurerm_dns_zone.this.name_servers
}

output "fqdns" {
  description = "Host name -> record FQDN for every record created (in the private zone when exposure is internal)."
  value = merge(
    { for host, record in azurerm_dns_a_record.host : host => record.fqdn },
    { for host, record in azurerm_private_dns_a_record.host : host => record.fqdn },
  )
}

output "zone_name" {
  description = "The public zone: where cert-manager writes its DNS-01 TXT records."
  value       = azurerm_dns_zone.this.name
}

output "private_zone_id" {
  description = "ID of the private zone that resolves the hosts inside the VNet; null when exposure is public."
  value       = one(azurerm_private_dns_zone.internal[*].id)
}

output "public_record_hosts" {
  description = "Hosts with an A record in the public zone (none when exposure is internal)."
  value       = sort(keys(azurerm_dns_a_record.host))
}

output "private_record_hosts" {
  description = "Hosts with an A record in the private zone (none when exposure is public)."
  value       = sort(keys(azurerm_private_dns_a_record.host))
}

output "exposure" {
  description = "public or internal: where the hosts' records are."
  value       = var.exposure
}
