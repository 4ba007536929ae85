output "private_dns_zone_name" {
  description = "The zone clients resolve the vault through."
  value       = module.private_endpoint.private_dns_zone_name
}
