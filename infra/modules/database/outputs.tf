output "kind" {
  description = "The engine that was created: postgresql or mssql."
  value       = var.kind
}

output "host" {
  description = "Private FQDN the app connects to."
  value = one(concat(
    [for server in azurerm_postgresql_flexible_server.this : server.fqdn],
    [for server in azurerm_mssql_server.this : server.fully_qualified_domain_name],
  ))
}

output "port" {
  description = "TCP port of the database."
  value       = var.kind == "postgresql" ? 5432 : 1433
}

output "database_name" {
  description = "Name of the app's database."
  value       = var.database_name
}

output "administrator_login" {
  description = "Administrator user name (its password is in Key Vault as database-password)."
  value       = var.administrator_login
}

output "server_id" {
  description = "ID of the database server."
  value       = one(concat([for s in azurerm_postgresql_flexible_server.this : s.id], [for s in azurerm_mssql_server.this : s.id]))
}
