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

resource "azurerm_dns_a_record" "host" {
  for_each = local.record_names

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
