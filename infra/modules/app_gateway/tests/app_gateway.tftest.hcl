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
