output "name_servers" {
  description = "Name servers to delegate the zone to."
  value       = module.dns.name_servers
}
