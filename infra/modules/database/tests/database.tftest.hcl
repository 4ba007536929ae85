mock_provider "azurerm" {}

variables {
  name                       = "psql-orderdesk-test"
  location                   = "westeurope"
  resource_group_name        = "rg-orderdesk-test"
  tenant_id                  = "11111111-2222-3333-4444-555555555555"
  sku                        = "B_Standard_B1ms"
  administrator_password     = "a-test-password-of-some-length" # pragma: allowlist secret (a test value)
  delegated_subnet_id        = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-database"
  virtual_network_id         = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet"
  log_analytics_workspace_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.OperationalInsights/workspaces/log"
  tags                       = { environment = "test" }
}

run "postgresql_is_the_default_and_the_only_server" {
  command = plan

  assert {
    condition     = length(azurerm_postgresql_flexible_server.this) == 1 && length(azurerm_mssql_server.this) == 0
    error_message = "kind = postgresql must create a flexible server and no SQL server."
  }
}

run "postgresql_has_no_public_access" {
  command = plan

  assert {
    condition     = azurerm_postgresql_flexible_server.this["this"].public_network_access_enabled == false && azurerm_postgresql_flexible_server.this["this"].delegated_subnet_id == var.delegated_subnet_id
    error_message = "The server must live only in the delegated subnet."
  }
  assert {
    condition     = endswith(azurerm_private_dns_zone.postgresql["this"].name, ".postgres.database.azure.com")
    error_message = "A VNet-integrated flexible server needs a zone under postgres.database.azure.com."
  }
}

run "postgresql_keeps_backups" {
  command = plan

  variables {
    backup_retention_days = 35
  }

  assert {
    condition     = azurerm_postgresql_flexible_server.this["this"].backup_retention_days == 35 && azurerm_postgresql_flexible_server.this["this"].geo_redundant_backup_enabled
    error_message = "Backups must be kept for the given days and copied to the paired region."
  }
}

run "postgresql_password_is_write_only" {
  command = plan

  assert {
    condition     = azurerm_postgresql_flexible_server.this["this"].administrator_password == null && azurerm_postgresql_flexible_server.this["this"].administrator_password_wo == null && azurerm_postgresql_flexible_server.this["this"].administrator_password_wo_version == 1
    error_message = "The administrator password must only be sent write-only."
  }
}

run "postgresql_requires_tls" {
  command = plan

  assert {
    condition     = azurerm_postgresql_flexible_server_configuration.require_secure_transport["this"].value == "on"
    error_message = "Unencrypted connections must be refused."
  }
}

run "postgresql_logs_go_to_log_analytics" {
  command = plan

  assert {
    condition     = azurerm_monitor_diagnostic_setting.postgresql["this"].log_analytics_workspace_id == var.log_analytics_workspace_id
    error_message = "Server logs must go to the Log Analytics workspace."
  }
}

run "postgresql_high_availability_is_zone_redundant" {
  command = plan

  variables {
    sku               = "GP_Standard_D2ds_v5"
    high_availability = true
  }

  assert {
    condition     = azurerm_postgresql_flexible_server.this["this"].high_availability[0].mode == "ZoneRedundant"
    error_message = "high_availability must place a standby in another zone."
  }
}

run "mssql_is_the_option" {
  command = plan

  variables {
    kind                       = "mssql"
    name                       = "sql-orderdesk-test"
    sku                        = "S0"
    delegated_subnet_id        = null
    private_endpoint_subnet_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-private_endpoints"
  }

  assert {
    condition     = length(azurerm_mssql_server.this) == 1 && length(azurerm_postgresql_flexible_server.this) == 0
    error_message = "kind = mssql must create an Azure SQL server and no PostgreSQL server."
  }
  assert {
    condition     = azurerm_mssql_server.this["this"].public_network_access_enabled == false && azurerm_mssql_server.this["this"].minimum_tls_version == "1.2"
    error_message = "The SQL server must be private and require TLS 1.2."
  }
  assert {
    condition     = module.private_endpoint["this"].subresource_names == tolist(["sqlServer"]) && module.private_endpoint["this"].private_dns_zone_name == "privatelink.database.windows.net"
    error_message = "The SQL server must be reached through a private endpoint."
  }
  assert {
    condition     = azurerm_mssql_database.this["this"].short_term_retention_policy[0].retention_days == 7
    error_message = "The SQL database must keep point-in-time backups."
  }
}

run "mssql_audits_security_events_to_log_analytics" {
  command = plan

  variables {
    kind                       = "mssql"
    name                       = "sql-orderdesk-test"
    sku                        = "S0"
    delegated_subnet_id        = null
    private_endpoint_subnet_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-private_endpoints"
  }

  assert {
    condition     = azurerm_mssql_server_extended_auditing_policy.this["this"].log_monitoring_enabled
    error_message = "SQL auditing must be on."
  }
  assert {
    condition     = [for log in azurerm_monitor_diagnostic_setting.mssql_audit["this"].enabled_log : log.category] == ["SQLSecurityAuditEvents"]
    error_message = "Audit events must be sent to Log Analytics."
  }
}

run "rejects_an_unknown_kind" {
  command = plan

  variables {
    kind = "mysql"
  }
  expect_failures = [var.kind]
}

run "rejects_a_bad_server_name" {
  command = plan

  variables {
    name = "PSQL_orderdesk"
  }
  expect_failures = [var.name]
}

run "rejects_a_tenant_that_is_not_a_guid" {
  command = plan

  variables {
    tenant_id = "tenant"
  }
  expect_failures = [var.tenant_id]
}

run "rejects_a_postgresql_sku_in_the_wrong_format" {
  command = plan

  variables {
    sku = "Standard_B1ms"
  }
  expect_failures = [var.sku]
}

run "rejects_storage_below_32_gib" {
  command = plan

  variables {
    storage_mb = 16384
  }
  expect_failures = [var.storage_mb]
}

run "rejects_backup_retention_out_of_range" {
  command = plan

  variables {
    backup_retention_days = 3
  }
  expect_failures = [var.backup_retention_days]
}

run "rejects_high_availability_on_a_burstable_sku" {
  command = plan

  variables {
    high_availability = true
  }
  expect_failures = [var.high_availability]
}

run "rejects_an_unsupported_postgresql_version" {
  command = plan

  variables {
    postgresql_version = "11"
  }
  expect_failures = [var.postgresql_version]
}

run "rejects_a_bad_database_name" {
  command = plan

  variables {
    database_name = "Order-Desk"
  }
  expect_failures = [var.database_name]
}

run "rejects_a_reserved_administrator_login" {
  command = plan

  variables {
    administrator_login = "admin"
  }
  expect_failures = [var.administrator_login]
}

run "rejects_a_short_password" {
  command = plan

  variables {
    administrator_password = "short" # pragma: allowlist secret
  }
  expect_failures = [var.administrator_password]
}

run "rejects_postgresql_without_a_delegated_subnet" {
  command = plan

  variables {
    delegated_subnet_id = null
  }
  expect_failures = [var.delegated_subnet_id]
}

run "rejects_mssql_without_a_private_endpoint_subnet" {
  command = plan

  variables {
    kind = "mssql"
    sku  = "S0"
  }
  expect_failures = [var.private_endpoint_subnet_id]
}
