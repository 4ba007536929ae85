data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "this" {
  name     = local.azure.resource_group
  location = local.azure.location
  tags     = local.tags
}

# Optional env.yaml keys are passed as null when absent: the module's default applies (nullable =
# false), so each default is written once, in the module that owns it.
module "network" {
  source = "./modules/network"

  name                = "vnet-${local.name}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = local.azure.network.vnet_cidr
  subnets             = local.azure.network.subnets
  service_cidr        = try(local.azure.aks.service_cidr, null)
  web_source          = local.internal ? "VirtualNetwork" : null
  tags                = local.tags
}

module "app_gateway" {
  source = "./modules/app_gateway"

  name                = "agw-${local.name}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  subnet_id           = module.network.subnet_ids["appgw"]
  zones               = local.azure.aks.node_pool.zones
  private_ip_address  = local.internal ? local.azure.ingress.private_ip : null
  tags                = local.tags
}

module "aks" {
  source = "./modules/aks"

  name                    = local.azure.aks.cluster_name
  location                = azurerm_resource_group.this.location
  resource_group_name     = azurerm_resource_group.this.name
  tenant_id               = data.azurerm_client_config.current.tenant_id
  kubernetes_version      = local.aks_kubernetes_version
  node_subnet_id          = module.network.subnet_ids["aks"]
  app_gateway_id          = module.app_gateway.id
  node_pool               = local.azure.aks.node_pool
  private_cluster_enabled = local.azure.aks.private_cluster
  authorized_ip_ranges    = local.api_server_ip_ranges
  admin_group_object_ids  = try(local.azure.aks.admin_group_object_ids, null)
  service_cidr            = module.network.service_cidr
  tags                    = local.tags
}

module "acr" {
  source = "./modules/acr"

  name                       = local.azure.acr.name
  location                   = azurerm_resource_group.this.location
  resource_group_name        = azurerm_resource_group.this.name
  sku                        = local.azure.acr.sku
  pusher_ip_ranges           = local.runner_ip_ranges
  private_endpoint_subnet_id = module.network.subnet_ids["private_endpoints"]
  virtual_network_id         = module.network.virtual_network_id
  tags                       = local.tags
}

module "key_vault" {
  source = "./modules/key_vault"

  name                       = local.azure.key_vault.name
  location                   = azurerm_resource_group.this.location
  resource_group_name        = azurerm_resource_group.this.name
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  private_endpoint_subnet_id = module.network.subnet_ids["private_endpoints"]
  virtual_network_id         = module.network.virtual_network_id
  deployer_ip_ranges         = local.vault_ip_ranges
  writer_object_id           = local.azure.identities.deploy_object_id
  reader_object_ids          = [local.azure.identities.plan_object_id]
  secret_versions            = local.secret_versions
  secret_values              = local.vault_secret_values
  irreplaceable_secret_names = local.irreplaceable_secret_names
  tags                       = local.tags
}

module "database" {
  source = "./modules/database"

  kind                           = local.azure.database.kind
  name                           = local.azure.database.name
  location                       = azurerm_resource_group.this.location
  resource_group_name            = azurerm_resource_group.this.name
  tenant_id                      = data.azurerm_client_config.current.tenant_id
  sku                            = local.azure.database.sku
  storage_mb                     = local.azure.database.storage_mb
  backup_retention_days          = local.azure.database.backup_retention_days
  delegated_subnet_id            = module.network.subnet_ids["database"]
  private_endpoint_subnet_id     = module.network.subnet_ids["private_endpoints"]
  virtual_network_id             = module.network.virtual_network_id
  log_analytics_workspace_id     = module.aks.log_analytics_workspace_id
  administrator_password         = local.vault_secret_values["database-password"]
  administrator_password_version = local.secret_versions["database-password"]
  tags                           = local.tags
}

module "dns" {
  source = "./modules/dns"

  zone_name           = local.azure.dns.zone
  resource_group_name = azurerm_resource_group.this.name
  hosts               = local.public_hosts
  exposure            = try(local.azure.ingress.exposure, null)
  target_ip           = local.internal ? module.app_gateway.private_ip_address : module.app_gateway.public_ip_address
  virtual_network_id  = local.internal ? module.network.virtual_network_id : null
  tags                = local.tags
}

# Azure Monitor alarms outside the cluster, to the Teams channel Alertmanager posts to; thresholds
# from env.yaml's azure.alerts, the module's defaults for anything left out.
module "alerts" {
  source = "./modules/alerts"

  name                = local.name
  short_name          = substr("od-${var.environment}", 0, 12)
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  cluster_id          = module.aks.id
  runbook_url         = local.runbook_url
  alerts              = try(local.azure.alerts, null)
  tags                = local.tags
}
