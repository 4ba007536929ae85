mock_provider "azurerm" {}

variables {
  zone_name           = "dev.orderdesk.example.com"
  resource_group_name = "rg-orderdesk-test"
  hosts               = ["dev.orderdesk.example.com", "grafana.dev.orderdesk.example.com", "prometheus.dev.orderdesk.example.com"]
  target_ip           = "198.51.100.7"
  tags                = { environment = "test" }
}

run "one_record_per_host_pointing_at_the_gateway" {
  command = plan

  assert {
    condition     = toset([for record in azurerm_dns_a_record.host : record.name]) == toset(["@", "grafana", "prometheus"])
    error_message = "The apex and the grafana and prometheus names must each get a record."
  }
  assert {
    condition     = alltrue([for record in azurerm_dns_a_record.host : record.records == toset(["198.51.100.7"])])
    error_message = "Every record must point at target_ip."
  }
}

run "only_the_listed_authority_may_issue_certificates" {
  command = plan

  assert {
    condition     = [for record in azurerm_dns_caa_record.issuers[0].record : record.value] == ["letsencrypt.org"]
    error_message = "A CAA record must limit issuance to the listed authorities."
  }
}

run "rejects_a_bad_zone_name" {
  command = plan

  variables {
    zone_name = "Orderdesk..example"
    hosts     = ["Orderdesk..example"]
  }
  expect_failures = [var.zone_name]
}

run "rejects_a_host_outside_the_zone" {
  command = plan

  variables {
    hosts = ["grafana.orderdesk.example.org"]
  }
  expect_failures = [var.hosts]
}

run "rejects_no_hosts" {
  command = plan

  variables {
    hosts = []
  }
  expect_failures = [var.hosts]
}

run "rejects_a_target_that_is_not_an_ipv4_address" {
  command = plan

  variables {
    target_ip = "gateway.example.com"
  }
  expect_failures = [var.target_ip]
}

run "rejects_a_ttl_out_of_range" {
  command = plan

  variables {
    ttl = 5
  }
  expect_failures = [var.ttl]
}

run "public_exposure_has_no_private_zone" {
  command = plan

  assert {
    condition     = length(azurerm_private_dns_zone.internal) == 0 && length(azurerm_private_dns_a_record.host) == 0
    error_message = "A public environment needs no private zone."
  }
}

# A private zone resolves only from the VNets linked to it, before public DNS, and never from the
# internet (learn.microsoft.com/azure/dns/private-dns-privatednszone): split horizon.
run "internal_hosts_resolve_only_in_a_private_zone_linked_to_the_vnet" {
  command = plan

  variables {
    exposure           = "internal"
    target_ip          = "10.10.16.10"
    virtual_network_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet"
  }

  assert {
    condition     = length(azurerm_dns_a_record.host) == 0
    error_message = "An internal environment's public zone must hold no host record."
  }
  assert {
    condition     = azurerm_private_dns_zone.internal[0].name == "dev.orderdesk.example.com" && azurerm_private_dns_zone_virtual_network_link.internal[0].virtual_network_id == var.virtual_network_id && azurerm_private_dns_zone_virtual_network_link.internal[0].registration_enabled == false
    error_message = "The private zone must have the public zone's name and be linked to the VNet."
  }
  assert {
    condition     = toset([for record in azurerm_private_dns_a_record.host : record.name]) == toset(["@", "grafana", "prometheus"]) && alltrue([for record in azurerm_private_dns_a_record.host : record.records == toset(["10.10.16.10"])])
    error_message = "Every host must resolve to the gateway's private address in the private zone."
  }
  assert {
    condition     = [for record in azurerm_dns_caa_record.issuers[0].record : record.value] == ["letsencrypt.org"]
    error_message = "The public zone keeps its CAA record: the certificate authority checks it there."
  }
}

run "rejects_an_internal_zone_without_its_vnet" {
  command = plan

  variables {
    exposure = "internal"
  }
  expect_failures = [var.virtual_network_id]
}

run "rejects_an_unknown_exposure" {
  command = plan

  variables {
    exposure = "private"
  }
  expect_failures = [var.exposure]
}
