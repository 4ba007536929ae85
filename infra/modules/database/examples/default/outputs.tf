output "host" {
  description = "Private FQDN the app connects to."
  value       = module.database.host
}
