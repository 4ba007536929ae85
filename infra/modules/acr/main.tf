resource "azurerm_container_registry" "this" {
  # checkov:skip=CKV_AZURE_164: Docker Content Trust is retired by Azure and trust_policy_enabled was removed in azurerm 5.0; images are signed with Notation instead.
  # checkov:skip=CKV_AZURE_165: One region runs the cluster; a geo-replica only adds cost until a second region does.
  # checkov:skip=CKV_AZURE_163: Image scanning is Microsoft Defender for Containers, a subscription-wide plan enabled outside this configuration.
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = var.sku
  tags                = var.tags

  # Pulls use the kubelet's AcrPull role, pushes an Entra ID identity: no shared admin password,
  # no anonymous pulls, nothing reachable from the internet.
  admin_enabled                 = false
  anonymous_pull_enabled        = false
  public_network_access_enabled = false
  network_rule_bypass_option    = "None"
  export_policy_enabled         = false
  data_endpoint_enabled         = true
  quarantine_policy_enabled     = true
  zone_redundancy_enabled       = var.zone_redundancy_enabled
  retention_policy_in_days      = var.untagged_retention_days
}

module "private_endpoint" {
  source = "../private_endpoint"

  name                  = var.name
  location              = var.location
  resource_group_name   = var.resource_group_name
  resource_id           = azurerm_container_registry.this.id
  subresource_name      = "registry"
  private_dns_zone_name = "privatelink.azurecr.io"
  subnet_id             = var.private_endpoint_subnet_id
  virtual_network_id    = var.virtual_network_id
  tags                  = var.tags
}

# Where these lived before the private_endpoint submodule: state moves, nothing is recreated.
moved {
  from = azurerm_private_dns_zone.registry
  to   = module.private_endpoint.azurerm_private_dns_zone.this
}

moved {
  from = azurerm_private_dns_zone_virtual_network_link.registry
  to   = module.private_endpoint.azurerm_private_dns_zone_virtual_network_link.this
}

moved {
  from = azurerm_private_endpoint.registry
  to   = module.private_endpoint.azurerm_private_endpoint.this
}
