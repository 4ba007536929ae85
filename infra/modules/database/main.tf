locals {
  postgresql = var.kind == "postgresql" ? toset(["this"]) : toset([])
  mssql      = var.kind == "mssql" ? toset(["this"]) : toset([])
}

# --- PostgreSQL flexible server, injected into the delegated subnet (no public endpoint) ---

resource "azurerm_private_dns_zone" "postgresql" {
  for_each = local.postgresql

  # A VNet-integrated flexible server needs a zone ending in postgres.database.azure.com.
  name                = "${var.name}.private.postgres.database.azure.com"
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "postgresql" {
  for_each = local.postgresql

  name                 = "link-${var.name}"
  private_dns_zone_id  = azurerm_private_dns_zone.postgresql[each.key].id
  virtual_network_id   = var.virtual_network_id
  registration_enabled = false
  tags                 = var.tags
}

resource "azurerm_postgresql_flexible_server" "this" {
  # checkov:skip=CKV2_AZURE_57: The server is injected into a delegated subnet with public access off, so it has no public endpoint; private endpoints are the other networking mode, not an addition.
  for_each = local.postgresql

  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  version             = var.postgresql_version
  sku_name            = var.sku
  storage_mb          = var.storage_mb
  auto_grow_enabled   = true
  tags                = var.tags

  delegated_subnet_id           = var.delegated_subnet_id
  private_dns_zone_id           = azurerm_private_dns_zone.postgresql[each.key].id
  public_network_access_enabled = false

  backup_retention_days        = var.backup_retention_days
  geo_redundant_backup_enabled = var.geo_redundant_backup_enabled

  administrator_login               = var.administrator_login
  administrator_password_wo         = var.administrator_password
  administrator_password_wo_version = var.administrator_password_version

  authentication {
    password_auth_enabled         = true
    active_directory_auth_enabled = true
    tenant_id                     = var.tenant_id
  }

  dynamic "high_availability" {
    for_each = var.high_availability ? [1] : []
    content {
      mode = "ZoneRedundant"
    }
  }

  lifecycle {
    # The orders live here: deleting the server must be a deliberate edit, never a plan side effect.
    prevent_destroy = true
    # Azure picks the zone when none is given; moving it later would fail.
    ignore_changes = [zone, high_availability[0].standby_availability_zone]
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgresql]
}

resource "azurerm_postgresql_flexible_server_database" "this" {
  for_each = local.postgresql

  name      = var.database_name
  server_id = azurerm_postgresql_flexible_server.this[each.key].id
  charset   = "UTF8"
  collation = "en_US.utf8"

  lifecycle {
    prevent_destroy = true
  }
}

# Server logs (connections, errors, slow statements) go to the Log Analytics workspace.
resource "azurerm_monitor_diagnostic_setting" "postgresql" {
  for_each = local.postgresql

  name                       = "logs-to-log-analytics"
  target_resource_id         = azurerm_postgresql_flexible_server.this[each.key].id
  log_analytics_workspace_id = var.log_analytics_workspace_id

  enabled_log {
    category = "PostgreSQLLogs"
  }
}

# Connections without TLS are refused (on by default; pinned so nobody turns it off).
resource "azurerm_postgresql_flexible_server_configuration" "require_secure_transport" {
  for_each = local.postgresql

  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.this[each.key].id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_configuration" "log_connections" {
  for_each = local.postgresql

  name      = "log_connections"
  server_id = azurerm_postgresql_flexible_server.this[each.key].id
  value     = "on"
}

# --- Azure SQL Database, reached through a private endpoint ---

resource "azurerm_mssql_server" "this" {
  # checkov:skip=CKV2_AZURE_45: The server's private endpoint is module.private_endpoint below; checkov's graph does not follow a resource ID into a module call.
  # checkov:skip=CKV2_AZURE_2: SQL vulnerability assessment comes with Microsoft Defender for SQL, a subscription-wide plan enabled outside this configuration.
  # checkov:skip=CKV2_AZURE_27: The app signs in with the generated SQL password; an Entra ID admin group is organisation-specific and added when adopted.
  # checkov:skip=CKV_AZURE_23: Auditing is azurerm_mssql_server_extended_auditing_policy below; the check reads only the inline block removed in azurerm 4.0.
  # checkov:skip=CKV_AZURE_24: Audit events go to the Log Analytics workspace, whose retention applies; the check reads only the removed inline block.
  for_each = local.mssql

  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  version             = "12.0"
  minimum_tls_version = "1.2"
  tags                = var.tags

  public_network_access_enabled           = false
  administrator_login                     = var.administrator_login
  administrator_login_password_wo         = var.administrator_password
  administrator_login_password_wo_version = var.administrator_password_version

  lifecycle {
    prevent_destroy = true
  }
}

resource "azurerm_mssql_database" "this" {
  # checkov:skip=CKV_AZURE_224: Ledger tables cannot be turned off again and orders need no cryptographic non-repudiation.
  # checkov:skip=CKV_AZURE_229: Zone redundancy follows high_availability; Basic and Standard SKUs cannot have it.
  for_each = local.mssql

  name           = var.database_name
  server_id      = azurerm_mssql_server.this[each.key].id
  sku_name       = var.sku
  max_size_gb    = floor(var.storage_mb / 1024)
  zone_redundant = var.high_availability
  tags           = var.tags

  short_term_retention_policy {
    retention_days = var.backup_retention_days
  }

  lifecycle {
    prevent_destroy = true
  }
}

# Security audit events (logins, permission changes) go to the cluster's Log Analytics workspace.
resource "azurerm_mssql_server_extended_auditing_policy" "this" {
  for_each = local.mssql

  server_id              = azurerm_mssql_server.this[each.key].id
  log_monitoring_enabled = true
}

resource "azurerm_monitor_diagnostic_setting" "mssql_audit" {
  for_each = local.mssql

  name                       = "audit-to-log-analytics"
  target_resource_id         = "${azurerm_mssql_server.this[each.key].id}/databases/master"
  log_analytics_workspace_id = var.log_analytics_workspace_id

  enabled_log {
    category = "SQLSecurityAuditEvents"
  }
}

module "private_endpoint" {
  source   = "../private_endpoint"
  for_each = local.mssql

  name                  = var.name
  location              = var.location
  resource_group_name   = var.resource_group_name
  resource_id           = azurerm_mssql_server.this[each.key].id
  subresource_name      = "sqlServer"
  private_dns_zone_name = "privatelink.database.windows.net"
  subnet_id             = var.private_endpoint_subnet_id
  virtual_network_id    = var.virtual_network_id
  tags                  = var.tags
}

# Where these lived before the private_endpoint submodule: state moves; only the endpoint's
# connection name changes (sql-server -> sqlServer, the sub-resource it names).
moved {
  from = azurerm_private_dns_zone.mssql["this"]
  to   = module.private_endpoint["this"].azurerm_private_dns_zone.this
}

moved {
  from = azurerm_private_dns_zone_virtual_network_link.mssql["this"]
  to   = module.private_endpoint["this"].azurerm_private_dns_zone_virtual_network_link.this
}

moved {
  from = azurerm_private_endpoint.mssql["this"]
  to   = module.private_endpoint["this"].azurerm_private_endpoint.this
}
