locals {
  # "orderdesk.example.com" in zone "orderdesk.example.com" is the apex "@";
  # "grafana.orderdesk.example.com" becomes "grafana".
  record_names = {
    for host in var.hosts : host => host == var.zone_name ? "@" : trimsuffix(host, ".${var.zone_name}")
  }
}

resource "azurerm_dns_zone" "this" {
  name                = var.zone_name
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

# Public exposure: the hosts' A records are in the public zone. Internal: the public zone keeps no
# A record (it still serves the CAA record and cert-manager's DNS-01 TXT records) and a private zone
# of the same name, linked to the VNet, answers for the hosts inside it (split horizon).
resource "azurerm_dns_a_record" "host" {
  for_each = var.exposure == "public" ? local.record_names : {}

  name                = each.value
  zone_name           = azurerm_dns_zone.this.name
  resource_group_name = var.resource_group_name
  ttl                 = var.ttl
  records             = [var.target_ip]
  tags                = var.tags
}

resource "azurerm_dns_caa_record" "issuers" {
  count = length(var.caa_issuers) > 0 ? 1 : 0

  name                = "@"
  zone_name           = azurerm_dns_zone.this.name
  resource_group_name = var.resource_group_name
  ttl                 = var.ttl
  tags                = var.tags

  dynamic "record" {
    for_each = var.caa_issuers
    content {
      flags = 0
      tag   = "issue"
      value = record.value
    }
  }
}

resource "azurerm_private_dns_zone" "internal" {
  count = var.exposure == "internal" ? 1 : 0

  name                = var.zone_name
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "internal" {
  count = var.exposure == "internal" ? 1 : 0

  name                 = "link-${replace(var.zone_name, ".", "-")}"
  private_dns_zone_id  = azurerm_private_dns_zone.internal[0].id
  virtual_network_id   = var.virtual_network_id
  registration_enabled = false
  tags                 = var.tags
}

resource "azurerm_private_dns_a_record" "host" {
  for_each = var.exposure == "internal" ? local.record_names : {}

  name                = each.value
  private_dns_zone_id = azurerm_private_dns_zone.internal[0].id
  ttl                 = var.ttl
  records             = [var.target_ip]
  tags                = var.tags
}
