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

resource "azurerm_private_dns_zone" "registry" {
  name                = "privatelink.azurecr.io"
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "registry" {
  name                 = "link-${var.name}"
  private_dns_zone_id  = azurerm_private_dns_zone.registry.id
  virtual_network_id   = var.virtual_network_id
  registration_enabled = false
  tags                 = var.tags
}

resource "azurerm_private_endpoint" "registry" {
  name                = "pe-${var.name}"
  location            = var.location
  resource_group_name = var.resource_group_name
  subnet_id           = var.private_endpoint_subnet_id
  tags                = var.tags

  private_service_connection {
    name                           = "registry"
    private_connection_resource_id = azurerm_container_registry.this.id
    subresource_names              = ["registry"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "registry"
    private_dns_zone_ids = [azurerm_private_dns_zone.registry.id]
  }
}
