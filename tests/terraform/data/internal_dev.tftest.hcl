# The run block of test_an_internal_environment_plans_a_private_gateway_zone_and_dns01_identity
# (tests/terraform/test_terraform_real.py), which puts the root test's mocks in front of it and
# plans dev made internal in a copy of env.yaml.
override_resource {
  target          = module.dns.azurerm_private_dns_zone.internal[0]
  override_during = plan
  values = {
    id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-dev/providers/Microsoft.Network/privateDnsZones/dev.orderdesk.example.com"
  }
}

run "internal_dev" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.ingress_exposure == "internal" && output.ingress_private_ip == "10.10.16.10" && module.app_gateway.listener_frontend == "private"
    error_message = "An internal environment's gateway listens on its private address only."
  }
  assert {
    condition     = length(module.dns.public_record_hosts) == 0 && module.dns.private_record_hosts == tolist(["dev.orderdesk.example.com", "grafana.dev.orderdesk.example.com"])
    error_message = "An internal environment's hosts resolve only in the private zone."
  }
  assert {
    condition     = endswith(module.dns.private_zone_id, "/privateDnsZones/dev.orderdesk.example.com")
    error_message = "The private zone has the public zone's name (split horizon)."
  }
  assert {
    condition     = azurerm_federated_identity_credential.cert_manager[0].subject == "system:serviceaccount:cert-manager:cert-manager" && azurerm_federated_identity_credential.cert_manager[0].audience == tolist(["api://AzureADTokenExchange"])
    error_message = "Only cert-manager's service account may act as its identity."
  }
  assert {
    condition     = !contains(module.network.inbound_rule_names["appgw"], "AllowWebFromInternet") && contains(module.network.inbound_rule_names["appgw"], "AllowWebFromVirtualNetwork")
    error_message = "An internal environment's gateway subnet admits web traffic from the VNet, not the internet."
  }
  assert {
    condition     = azurerm_role_assignment.cert_manager_dns_zone_contributor[0].role_definition_name == "DNS Zone Contributor"
    error_message = "cert-manager needs DNS Zone Contributor on the public zone to write DNS-01 TXT records."
  }
}
