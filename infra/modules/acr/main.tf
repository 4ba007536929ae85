resource "azurerm_container_registry" "this" {
  # checkov:skip=CKV_AZURE_164: Docker Content Trust is retired by Azure and trust_policy_enabled was removed in azurerm 5.0; images are signed with Notation instead.
  # checkov:skip=CKV_AZURE_165: One region runs the cluster; a geo-replica only adds cost until a second region does.
  # checkov:skip=CKV_AZURE_163: Image scanning is Microsoft Defender for Containers, a subscription-wide plan enabled outside this configuration.
  # checkov:skip=CKV_AZURE_166: Quarantine blocks every pull until a scanner marks the image Passed, and nothing does: the image is scanned before the push (invoke image.scan) and signed (cosign) instead.
  # checkov:skip=CKV_AZURE_139: Public access is on only while pusher_ip_ranges lists the CI runners' ranges, which the firewall then admits alone (default_action Deny); checkov cannot evaluate length(var.pusher_ip_ranges) > 0 (tests/acr.tftest.hcl checks both cases).
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = var.sku
  tags                = var.tags

  # Pulls use the kubelet's AcrPull role, pushes an Entra ID identity: no shared admin password,
  # no anonymous pulls. From the internet only the pushing runners' ranges (pusher_ip_ranges)
  # reach it; without them it has no public endpoint and pushes come through the private endpoint.
  admin_enabled                 = false
  anonymous_pull_enabled        = false
  public_network_access_enabled = length(var.pusher_ip_ranges) > 0
  network_rule_bypass_option    = "None"
  # Exports (az acr import/transfer) stay off whenever Azure allows it: only without public
  # access. azurerm refuses `false` beside public access at plan time ("to disable export of
  # artifacts, `public_network_access_enabled` must also be `false`", the resource's CustomizeDiff
  # in internal/services/containers/container_registry_resource.go), as the registry API does.
  export_policy_enabled = length(var.pusher_ip_ranges) > 0
  data_endpoint_enabled = true
  # Off: with quarantine on, a pushed image cannot be pulled until a scanner marks it Passed
  # through the quarantine API, and nothing here does (the image is scanned before the push,
  # then signed). On, every pod would sit in ImagePullBackOff.
  quarantine_policy_enabled = false

  network_rule_set {
    default_action = "Deny"
    ip_rule = [
      for cidr in var.pusher_ip_ranges : { action = "Allow", ip_range = cidr }
    ]
  }
  zone_redundancy_enabled  = var.zone_redundancy_enabled
  retention_policy_in_days = var.untagged_retention_days
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
