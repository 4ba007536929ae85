mock_provider "azurerm" {}

variables {
  name                = "vnet-orderdesk-test"
  location            = "westeurope"
  resource_group_name = "rg-orderdesk-test"
  address_space       = "10.10.0.0/16"
  subnets = {
    aks               = "10.10.0.0/20"
    appgw             = "10.10.16.0/24"
    private_endpoints = "10.10.17.0/24"
    database          = "10.10.18.0/24"
  }
  tags = { environment = "test" }
}

run "one_subnet_per_role_with_its_own_nsg" {
  command = plan

  assert {
    condition     = toset(keys(azurerm_subnet.this)) == toset(["aks", "appgw", "private_endpoints", "database"])
    error_message = "Expected exactly the aks, appgw, private_endpoints and database subnets."
  }
  assert {
    condition     = toset(keys(azurerm_subnet_network_security_group_association.this)) == toset(keys(azurerm_subnet.this))
    error_message = "Every subnet must be associated with an NSG."
  }
}

run "no_nsg_rule_allows_any_to_any_inbound" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for nsg in azurerm_network_security_group.this : [
        for rule in nsg.security_rule : !(
          rule.direction == "Inbound" && rule.access == "Allow" &&
          contains(["*", "Internet", "Any", "0.0.0.0/0"], rule.source_address_prefix) &&
          (contains(rule.destination_port_ranges, "0-65535") || contains(rule.destination_port_ranges, "*"))
        )
      ]
    ]))
    error_message = "An NSG rule allows every port inbound from anywhere."
  }
}

run "internet_reaches_only_the_gateway_on_web_ports" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for role, nsg in azurerm_network_security_group.this : [
        for rule in nsg.security_rule : role == "appgw" && toset(rule.destination_port_ranges) == toset(["80", "443"])
        if rule.access == "Allow" && rule.source_address_prefix == "Internet"
      ]
    ]))
    error_message = "Only the appgw subnet may accept internet traffic, and only on 80 and 443."
  }
}

run "nodes_deny_internet_inbound" {
  command = plan

  assert {
    condition     = anytrue([for rule in azurerm_network_security_group.this["aks"].security_rule : rule.access == "Deny" && rule.source_address_prefix == "Internet"])
    error_message = "The aks subnet must deny inbound internet traffic explicitly."
  }
}

run "database_accepts_postgres_only_from_the_cluster" {
  command = plan

  assert {
    condition = alltrue([
      for rule in azurerm_network_security_group.this["database"].security_rule :
      rule.source_address_prefix == var.subnets.aks || rule.source_address_prefix == var.subnets.database
      if rule.access == "Allow"
    ])
    error_message = "The database subnet may only allow traffic from the aks subnet (and itself, for HA)."
  }
  assert {
    condition     = anytrue([for rule in azurerm_network_security_group.this["database"].security_rule : rule.access == "Deny" && rule.source_address_prefix == "*" && rule.priority == 4096])
    error_message = "The database subnet must end with an explicit DenyAllInbound."
  }
}

run "database_subnet_is_delegated_to_postgresql" {
  command = plan

  assert {
    condition     = azurerm_subnet.this["database"].delegation[0].service_delegation[0].name == "Microsoft.DBforPostgreSQL/flexibleServers"
    error_message = "The database subnet must be delegated to PostgreSQL flexible servers."
  }
  assert {
    condition     = length(azurerm_subnet.this["aks"].delegation) == 0
    error_message = "Only the database subnet is delegated."
  }
}

run "private_endpoint_subnet_enforces_its_nsg" {
  command = plan

  assert {
    condition     = azurerm_subnet.this["private_endpoints"].private_endpoint_network_policies == "Enabled"
    error_message = "Without private endpoint network policies the NSG does not apply to private endpoints."
  }
}

run "no_subnet_uses_default_outbound_access" {
  command = plan

  assert {
    condition     = alltrue([for subnet in azurerm_subnet.this : subnet.default_outbound_access_enabled == false])
    error_message = "Subnets must not rely on Azure's implicit default outbound access."
  }
}

run "tags_every_resource" {
  command = plan

  assert {
    condition     = azurerm_virtual_network.this.tags["environment"] == "test" && alltrue([for nsg in azurerm_network_security_group.this : nsg.tags["environment"] == "test"])
    error_message = "The VNet and NSGs must carry the given tags."
  }
}

run "rejects_a_bad_name" {
  command = plan

  variables {
    name = "-vnet"
  }
  expect_failures = [var.name]
}

run "rejects_a_non_cidr_address_space" {
  command = plan

  variables {
    address_space = "10.10.0.0"
  }
  expect_failures = [var.address_space]
}

run "rejects_an_ipv6_address_space" {
  command = plan

  variables {
    address_space = "fd00::/48"
  }
  expect_failures = [var.address_space]
}

run "rejects_a_non_cidr_subnet" {
  command = plan

  variables {
    subnets = {
      aks               = "10.10.0.0/20"
      appgw             = "not-a-cidr"
      private_endpoints = "10.10.17.0/24"
      database          = "10.10.18.0/24"
    }
  }
  expect_failures = [var.subnets]
}

run "rejects_overlapping_subnets" {
  command = plan

  variables {
    subnets = {
      aks               = "10.10.0.0/20"
      appgw             = "10.10.16.0/24"
      private_endpoints = "10.10.17.0/24"
      database          = "10.10.15.0/24"
    }
  }
  expect_failures = [azurerm_virtual_network.this]
}

run "rejects_a_subnet_outside_the_vnet" {
  command = plan

  variables {
    subnets = {
      aks               = "10.10.0.0/20"
      appgw             = "10.10.16.0/24"
      private_endpoints = "10.10.17.0/24"
      database          = "10.11.0.0/24"
    }
  }
  expect_failures = [azurerm_virtual_network.this]
}

run "rejects_an_application_gateway_subnet_smaller_than_a_26" {
  command = plan

  variables {
    subnets = {
      aks               = "10.10.0.0/20"
      appgw             = "10.10.16.0/27"
      private_endpoints = "10.10.17.0/24"
      database          = "10.10.18.0/24"
    }
  }
  expect_failures = [var.subnets]
}

run "rejects_an_invalid_app_port" {
  command = plan

  variables {
    app_port = 70000
  }
  expect_failures = [var.app_port]
}

run "service_range_defaults_outside_the_vnet" {
  command = plan

  assert {
    condition     = output.service_cidr == "172.16.0.0/16"
    error_message = "Without a service_cidr the address plan must give AKS 172.16.0.0/16."
  }
}

run "rejects_a_service_range_inside_the_vnet" {
  command = plan

  variables {
    service_cidr = "10.10.128.0/20"
  }
  expect_failures = [azurerm_virtual_network.this]
}

run "rejects_a_service_range_that_is_not_a_cidr" {
  command = plan

  variables {
    service_cidr = "172.16.0.0"
  }
  expect_failures = [var.service_cidr]
}

# Private endpoints and a private API server answer only inside the VNet, so CI's jobs that touch
# them run on a self-hosted runner there (learn.microsoft.com/azure/aks/private-clusters: "the API
# server endpoint has no public IP address"; to manage it, use a VM in the same VNet).
run "runners_subnet_reaches_the_private_endpoints_and_leaves_through_a_nat_gateway" {
  command = plan

  variables {
    subnets = {
      aks               = "10.10.0.0/20"
      appgw             = "10.10.16.0/24"
      private_endpoints = "10.10.17.0/24"
      database          = "10.10.18.0/24"
      runners           = "10.10.19.0/24"
    }
  }

  assert {
    condition     = azurerm_subnet.this["runners"].address_prefixes[0] == "10.10.19.0/24" && azurerm_subnet.this["runners"].default_outbound_access_enabled == false
    error_message = "The runners subnet must exist, without default outbound access."
  }
  assert {
    condition = anytrue([
      for rule in azurerm_network_security_group.this["private_endpoints"].security_rule :
      rule.access == "Allow" && rule.source_address_prefix == "10.10.19.0/24" && toset(rule.destination_port_ranges) == toset(["443"])
    ])
    error_message = "The runner must reach the private endpoints (registry, vault) on 443."
  }
  assert {
    condition = anytrue([
      for rule in azurerm_network_security_group.this["aks"].security_rule :
      rule.access == "Allow" && rule.source_address_prefix == "10.10.19.0/24" && toset(rule.destination_port_ranges) == toset(["443"])
    ])
    error_message = "The runner must reach a private API server (its endpoint is in the node subnet) on 443."
  }
  assert {
    condition = alltrue([
      for rule in azurerm_network_security_group.this["runners"].security_rule :
      rule.access == "Deny" if rule.direction == "Inbound"
    ])
    error_message = "Nothing may reach the runner: its agent connects out only."
  }
  assert {
    condition     = length(azurerm_subnet_nat_gateway_association.runners) == 1 && length(azurerm_nat_gateway_public_ip_association.runners) == 1
    error_message = "The runner needs a way out (GitHub, registries): a NAT gateway with a public IP."
  }
}

run "without_a_runners_subnet_there_is_no_nat_gateway" {
  command = plan

  assert {
    condition     = length(azurerm_nat_gateway.runners) == 0 && !contains(keys(azurerm_subnet.this), "runners")
    error_message = "No runners subnet, no runner resources."
  }
}

# AGIC's guidance for a gateway that must stay private while v2 keeps a public IP: an NSG on its
# subnet that keeps the internet out (Azure/application-gateway-kubernetes-ingress docs/features/private-ip.md).
run "internal_gateway_subnet_admits_web_traffic_from_the_vnet_only" {
  command = plan

  variables {
    web_source = "VirtualNetwork"
  }

  assert {
    condition = length(flatten([
      for nsg in azurerm_network_security_group.this : [
        for rule in nsg.security_rule : rule.name if rule.access == "Allow" && rule.source_address_prefix == "Internet"
      ]
    ])) == 0
    error_message = "An internal environment's subnets admit nothing from the internet."
  }
  assert {
    condition = anytrue([
      for rule in azurerm_network_security_group.this["appgw"].security_rule :
      rule.access == "Allow" && rule.source_address_prefix == "VirtualNetwork" && toset(rule.destination_port_ranges) == toset(["80", "443"])
    ])
    error_message = "The gateway's web ports must admit the VNet."
  }
}

run "rejects_an_unknown_web_source" {
  command = plan

  variables {
    web_source = "0.0.0.0/0"
  }
  expect_failures = [var.web_source]
}
