mock_provider "azurerm" {}

variables {
  name                       = "acrorderdesktest"
  location                   = "westeurope"
  resource_group_name        = "rg-orderdesk-test"
  private_endpoint_subnet_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-private_endpoints"
  virtual_network_id         = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet"
  tags                       = { environment = "test" }
}

run "registry_has_no_public_access" {
  command = plan

  assert {
    condition     = azurerm_container_registry.this.public_network_access_enabled == false
    error_message = "The registry must not be reachable from the internet."
  }
  assert {
    condition     = azurerm_container_registry.this.network_rule_bypass_option == "None"
    error_message = "No Azure service may bypass the registry's network rules."
  }
}

run "registry_has_no_admin_user_or_anonymous_pull" {
  command = plan

  assert {
    condition     = azurerm_container_registry.this.admin_enabled == false && azurerm_container_registry.this.anonymous_pull_enabled == false
    error_message = "Pulls and pushes must use Entra ID identities, never a shared admin password or anonymous access."
  }
}

run "registry_is_reached_through_a_private_endpoint" {
  command = plan

  assert {
    condition     = module.private_endpoint.subnet_id == var.private_endpoint_subnet_id && module.private_endpoint.subresource_names == tolist(["registry"])
    error_message = "The registry needs a private endpoint in the private endpoint subnet."
  }
  assert {
    condition     = module.private_endpoint.private_dns_zone_name == "privatelink.azurecr.io" && module.private_endpoint.linked_virtual_network_id == var.virtual_network_id
    error_message = "Nodes must resolve the registry through the privatelink zone linked to the VNet."
  }
}

run "untagged_manifests_are_purged" {
  command = plan

  assert {
    condition     = azurerm_container_registry.this.retention_policy_in_days == 7
    error_message = "Untagged manifests must be purged after the retention period."
  }
}

run "rejects_a_registry_name_with_dashes" {
  command = plan

  variables {
    name = "acr-orderdesk"
  }
  expect_failures = [var.name]
}

run "rejects_a_sku_without_private_endpoints" {
  command = plan

  variables {
    sku = "Standard"
  }
  expect_failures = [var.sku]
}

run "rejects_a_retention_out_of_range" {
  command = plan

  variables {
    untagged_retention_days = 400
  }
  expect_failures = [var.untagged_retention_days]
}

# "Once the Quarantine is enabled, any images without being marked as good will be blocked for
# pull" (Azure/acr docs/preview/quarantine/readme.md): nothing here marks images Passed.
run "quarantine_is_off_so_pushed_images_can_be_pulled" {
  command = plan

  assert {
    condition     = azurerm_container_registry.this.quarantine_policy_enabled == false
    error_message = "Quarantine blocks every pull until a scanner marks the image Passed; nothing does here."
  }
}

# ACR's firewall: with public access on, "default_action = Deny" admits only the listed ip_rule
# ranges (learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks).
run "registry_admits_only_the_pushing_runners_from_the_internet" {
  command = plan

  variables {
    pusher_ip_ranges = ["198.51.100.0/28"]
  }

  assert {
    condition     = azurerm_container_registry.this.public_network_access_enabled == true && azurerm_container_registry.this.network_rule_set[0].default_action == "Deny"
    error_message = "With pusher ranges the registry has a public endpoint that denies by default."
  }
  assert {
    condition     = [for rule in azurerm_container_registry.this.network_rule_set[0].ip_rule : rule.ip_range] == ["198.51.100.0/28"]
    error_message = "Only the pushing runners' ranges may reach the registry from the internet."
  }
}

run "rejects_the_whole_internet_as_a_pusher_range" {
  command = plan

  variables {
    pusher_ip_ranges = ["0.0.0.0/0"]
  }
  expect_failures = [var.pusher_ip_ranges]
}

# azurerm's CustomizeDiff refuses export_policy_enabled = false beside public access ("to disable
# export of artifacts, `public_network_access_enabled` must also be `false`":
# internal/services/containers/container_registry_resource.go at the pinned 5.2): a mocked
# provider never runs it, so the pairing is pinned here for both shapes.
run "exports_are_off_exactly_when_the_registry_has_no_public_endpoint" {
  command = plan

  assert {
    condition     = azurerm_container_registry.this.public_network_access_enabled == false && azurerm_container_registry.this.export_policy_enabled == false
    error_message = "Without public access, exports (az acr import/transfer) must be disabled."
  }
}

run "exports_stay_allowed_while_the_pushing_runners_reach_the_public_endpoint" {
  command = plan

  variables {
    pusher_ip_ranges = ["198.51.100.0/28"]
  }

  assert {
    condition     = azurerm_container_registry.this.public_network_access_enabled == false || azurerm_container_registry.this.export_policy_enabled == true
    error_message = "azurerm refuses export_policy_enabled = false while public_network_access_enabled is true."
  }
}
