mock_provider "azurerm" {}

variables {
  name                  = "acrorderdesktest"
  location              = "westeurope"
  resource_group_name   = "rg-orderdesk-test"
  resource_id           = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.ContainerRegistry/registries/acrorderdesktest"
  subresource_name      = "registry"
  private_dns_zone_name = "privatelink.azurecr.io"
  subnet_id             = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-private_endpoints"
  virtual_network_id    = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet"
  tags                  = { environment = "test" }
}

run "endpoint_connects_the_resource_from_the_subnet" {
  command = plan

  assert {
    condition     = azurerm_private_endpoint.this.subnet_id == var.subnet_id && azurerm_private_endpoint.this.name == "pe-acrorderdesktest"
    error_message = "The endpoint must take its private IP from the given subnet."
  }
  assert {
    condition     = azurerm_private_endpoint.this.private_service_connection[0].private_connection_resource_id == var.resource_id && azurerm_private_endpoint.this.private_service_connection[0].subresource_names == tolist(["registry"]) && azurerm_private_endpoint.this.private_service_connection[0].is_manual_connection == false
    error_message = "The endpoint must connect the resource's sub-resource, approved automatically."
  }
}

run "zone_is_linked_to_the_vnet_without_registration" {
  command = plan

  assert {
    condition     = azurerm_private_dns_zone.this.name == "privatelink.azurecr.io" && azurerm_private_dns_zone_virtual_network_link.this.virtual_network_id == var.virtual_network_id && azurerm_private_dns_zone_virtual_network_link.this.registration_enabled == false
    error_message = "The privatelink zone must be linked to the VNet, for resolution only."
  }
  assert {
    condition     = length(azurerm_private_endpoint.this.private_dns_zone_group) == 1 && azurerm_private_endpoint.this.private_dns_zone_group[0].name == "registry"
    error_message = "The endpoint's zone group must register its address in the privatelink zone."
  }
}

run "outputs_describe_the_endpoint" {
  command = plan

  assert {
    condition     = output.subnet_id == var.subnet_id && output.subresource_names == tolist(["registry"]) && output.private_dns_zone_name == "privatelink.azurecr.io" && output.linked_virtual_network_id == var.virtual_network_id
    error_message = "The outputs must describe the endpoint for the calling module's tests."
  }
}

run "rejects_a_zone_that_is_not_privatelink" {
  command = plan

  variables {
    private_dns_zone_name = "azurecr.io"
  }
  expect_failures = [var.private_dns_zone_name]
}

run "rejects_a_resource_id_that_is_not_one" {
  command = plan

  variables {
    resource_id = "acrorderdesktest"
  }
  expect_failures = [var.resource_id]
}

run "rejects_a_bad_subresource_name" {
  command = plan

  variables {
    subresource_name = "sql server"
  }
  expect_failures = [var.subresource_name]
}

run "rejects_a_subnet_id_that_is_not_a_subnet" {
  command = plan

  variables {
    subnet_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
  }
  expect_failures = [var.subnet_id]
}

run "rejects_a_bad_name" {
  command = plan

  variables {
    name = "-acr"
  }
  expect_failures = [var.name]
}
