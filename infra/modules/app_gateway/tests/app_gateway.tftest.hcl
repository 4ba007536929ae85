mock_provider "azurerm" {}

variables {
  name                = "agw-orderdesk-test"
  location            = "westeurope"
  resource_group_name = "rg-orderdesk-test"
  subnet_id           = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-appgw"
  zones               = ["1", "2", "3"]
  tags                = { environment = "test" }
}

run "gateway_runs_a_web_application_firewall_in_prevention_mode" {
  command = plan

  assert {
    condition     = azurerm_application_gateway.this.sku[0].tier == "WAF_v2" && azurerm_web_application_firewall_policy.this.policy_settings[0].mode == "Prevention"
    error_message = "The gateway must be WAF_v2 with the firewall blocking, not just logging."
  }
  assert {
    condition     = azurerm_web_application_firewall_policy.this.policy_settings[0].enabled
    error_message = "The firewall policy must be enabled."
  }
}

run "gateway_allows_only_modern_tls" {
  command = plan

  assert {
    condition     = azurerm_application_gateway.this.ssl_policy[0].policy_name == "AppGwSslPolicy20220101S"
    error_message = "The gateway must use a TLS 1.2+ policy."
  }
}

run "gateway_lives_in_its_subnet_with_a_static_public_ip" {
  command = plan

  assert {
    condition     = azurerm_application_gateway.this.gateway_ip_configuration[0].subnet_id == var.subnet_id
    error_message = "The gateway must live in the given subnet."
  }
  assert {
    condition     = azurerm_public_ip.frontend.allocation_method == "Static" && azurerm_public_ip.frontend.sku == "Standard"
    error_message = "DNS records need a static Standard public IP."
  }
}

run "gateway_autoscales_within_the_bounds" {
  command = plan

  variables {
    capacity = { min = 2, max = 10 }
  }

  assert {
    condition     = azurerm_application_gateway.this.autoscale_configuration[0].min_capacity == 2 && azurerm_application_gateway.this.autoscale_configuration[0].max_capacity == 10
    error_message = "The gateway must autoscale between the given bounds."
  }
}

run "rejects_a_bad_name" {
  command = plan

  variables {
    name = "agw orderdesk"
  }
  expect_failures = [var.name]
}

run "rejects_an_unknown_zone" {
  command = plan

  variables {
    zones = ["0"]
  }
  expect_failures = [var.zones]
}

run "rejects_capacity_bounds_in_the_wrong_order" {
  command = plan

  variables {
    capacity = { min = 5, max = 2 }
  }
  expect_failures = [var.capacity]
}

run "rejects_an_unknown_waf_mode" {
  command = plan

  variables {
    waf_mode = "Block"
  }
  expect_failures = [var.waf_mode]
}

run "public_gateway_listens_on_its_public_ip_only" {
  command = plan

  assert {
    condition     = [for frontend in azurerm_application_gateway.this.frontend_ip_configuration : frontend.name] == ["public"]
    error_message = "A public gateway has one frontend, the public IP."
  }
  assert {
    condition     = output.listener_frontend == "public" && output.private_ip_address == null
    error_message = "A public gateway's listener is on the public frontend."
  }
}

# A v2 gateway's private frontend address is static and from its own subnet
# (learn.microsoft.com/azure/application-gateway/configuration-frontend-ip).
run "v2_private_frontend_is_a_static_address_in_the_gateway_subnet" {
  command = plan

  variables {
    private_ip_address = "10.10.16.10"
  }

  assert {
    condition = anytrue([for frontend in azurerm_application_gateway.this.frontend_ip_configuration :
      frontend.name == "private" && frontend.private_ip_address_allocation == "Static" && frontend.private_ip_address == "10.10.16.10" && frontend.subnet_id == var.subnet_id
    ])
    error_message = "The private frontend must be the static address in the gateway's subnet."
  }
}

# Without EnableApplicationGatewayNetworkIsolation Azure refuses a v2 gateway with no public frontend
# (learn.microsoft.com/troubleshoot/azure/application-gateway/error-codes/application-gateway-frontend-ip-cannot-have-public-ip-subnet-error):
# internal keeps the public IP but puts no listener on it.
run "internal_gateway_keeps_the_required_public_frontend_without_a_listener" {
  command = plan

  variables {
    private_ip_address = "10.10.16.10"
  }

  assert {
    condition     = toset([for frontend in azurerm_application_gateway.this.frontend_ip_configuration : frontend.name]) == toset(["public", "private"])
    error_message = "An internal v2 gateway keeps the public frontend Azure requires, beside the private one."
  }
  assert {
    condition     = alltrue([for listener in azurerm_application_gateway.this.http_listener : listener.frontend_ip_configuration_name == "private"]) && output.listener_frontend == "private"
    error_message = "An internal gateway's listener must be on the private frontend, none on the public IP."
  }
}

run "rejects_a_private_address_that_is_not_ipv4" {
  command = plan

  variables {
    private_ip_address = "10.10.16"
  }
  expect_failures = [var.private_ip_address]
}
