locals {
  # The subnets in use: runners is optional.
  subnets = { for role, cidr in var.subnets : role => cidr if cidr != null }

  # Every CIDR of the address plan as its first address in integer form and its size, computed
  # once for the rules on how the ranges relate (Terraform has no CIDR-overlap function). Those
  # rules are preconditions of the VNet below: a variable's validation may not use a local
  # derived from that variable. Each CIDR's own shape is checked by its variable's validation first.
  address_plan = merge(local.subnets, { address_space = var.address_space, service_cidr = var.service_cidr })
  ranges = {
    for name, cidr in local.address_plan : name => {
      first = sum([for i, octet in split(".", cidrhost(cidr, 0)) : tonumber(octet) * pow(256, 3 - i)])
      size  = pow(2, 32 - tonumber(split("/", cidr)[1]))
    }
  }
  # Two ranges are apart when one ends before the other starts.
  subnet_pairs_apart = [
    for pair in setproduct(keys(local.subnets), keys(local.subnets)) :
    pair[0] == pair[1] || local.ranges[pair[0]].first + local.ranges[pair[0]].size <= local.ranges[pair[1]].first || local.ranges[pair[1]].first + local.ranges[pair[1]].size <= local.ranges[pair[0]].first
  ]
  subnets_inside_vnet = [
    for name in keys(local.subnets) :
    local.ranges[name].first >= local.ranges.address_space.first && local.ranges[name].first + local.ranges[name].size <= local.ranges.address_space.first + local.ranges.address_space.size
  ]
  service_range_outside_vnet = (
    local.ranges.service_cidr.first + local.ranges.service_cidr.size <= local.ranges.address_space.first ||
    local.ranges.address_space.first + local.ranges.address_space.size <= local.ranges.service_cidr.first
  )

  # The last word of every subnet that the internet has no business reaching.
  deny_all_inbound = {
    priority                   = 4096
    access                     = "Deny"
    protocol                   = "*"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
    destination_port_ranges    = ["0-65535"]
  }

  # The self-hosted runner reaches the private endpoints (registry and vault on 443) and a private
  # API server, whose private endpoint AKS places in the node subnet. Nothing reaches the runner:
  # its agent only connects out, to GitHub.
  runner_rules = var.subnets.runners == null ? {} : {
    aks = {
      AllowRunnersToApiServer = {
        priority                   = 110
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = var.subnets.runners
        destination_address_prefix = var.subnets.aks
        destination_port_ranges    = ["443"]
      }
    }
    private_endpoints = {
      AllowRunnersToPrivateEndpoints = {
        priority                   = 110
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = var.subnets.runners
        destination_address_prefix = var.subnets.private_endpoints
        destination_port_ranges    = ["443"]
      }
    }
    runners = {
      DenyAllInbound = local.deny_all_inbound
    }
  }

  # Inbound rules per subnet, written out so a reviewer sees every allowed path. Anything not
  # listed falls through to the explicit DenyAllInbound (or, for aks, DenyInternetInbound).
  inbound_rules = {
    for role in keys(local.subnets) :
    role => merge(try(local.base_rules[role], {}), try(local.runner_rules[role], {}))
  }
  base_rules = {
    aks = {
      AllowAppGatewayToPods = {
        priority                   = 100
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = var.subnets.appgw
        destination_address_prefix = var.subnets.aks
        destination_port_ranges    = ["80", "443", tostring(var.app_port)]
      }
      # Nodes talk to each other and to the load balancer probes through the default
      # AllowVnetInBound/AllowAzureLoadBalancerInBound rules; the internet never reaches them.
      DenyInternetInbound = {
        priority                   = 4000
        access                     = "Deny"
        protocol                   = "*"
        source_address_prefix      = "Internet"
        destination_address_prefix = "*"
        destination_port_ranges    = ["0-65535"]
      }
    }
    appgw = {
      # Required by Application Gateway v2 for its health and management traffic.
      AllowGatewayManager = {
        priority                   = 100
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = "GatewayManager"
        destination_address_prefix = "*"
        destination_port_ranges    = ["65200-65535"]
      }
      AllowAzureLoadBalancer = {
        priority                   = 110
        access                     = "Allow"
        protocol                   = "*"
        source_address_prefix      = "AzureLoadBalancer"
        destination_address_prefix = "*"
        destination_port_ranges    = ["0-65535"]
      }
      # Port 80 only answers with a redirect to HTTPS (and ACME HTTP-01 challenges). An internal
      # environment admits the VNet only: its gateway keeps a public IP with no listener (Azure
      # requires one), and AGIC's guidance for a private gateway is an NSG that keeps the internet
      # out (AGIC docs/features/private-ip.md); Azure's default DenyAllInBound does the rest.
      "AllowWebFrom${var.web_source}" = {
        priority                   = 120
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = var.web_source
        destination_address_prefix = "*"
        destination_port_ranges    = ["80", "443"]
      }
    }
    private_endpoints = {
      # Key Vault and ACR (443) and Azure SQL (1433), reached from the cluster only.
      AllowAksToPrivateEndpoints = {
        priority                   = 100
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = var.subnets.aks
        destination_address_prefix = var.subnets.private_endpoints
        destination_port_ranges    = ["443", "1433"]
      }
      DenyAllInbound = local.deny_all_inbound
    }
    database = {
      AllowAksToPostgres = {
        priority                   = 100
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = var.subnets.aks
        destination_address_prefix = var.subnets.database
        destination_port_ranges    = ["5432"]
      }
      # Zone-redundant high availability replicates between servers inside the subnet.
      AllowWithinDatabaseSubnet = {
        priority                   = 110
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = var.subnets.database
        destination_address_prefix = var.subnets.database
        destination_port_ranges    = ["5432", "6432"]
      }
      DenyAllInbound = local.deny_all_inbound
    }
  }
}

resource "azurerm_virtual_network" "this" {
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  address_space       = [var.address_space]
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = alltrue(local.subnet_pairs_apart)
      error_message = "Subnets must not overlap: give each of aks, appgw, private_endpoints and database its own range."
    }
    precondition {
      condition     = alltrue(local.subnets_inside_vnet)
      error_message = "Every subnet must lie inside address_space."
    }
    precondition {
      condition     = local.service_range_outside_vnet
      error_message = "service_cidr must not overlap address_space: Kubernetes services would shadow addresses of the VNet."
    }
  }
}

resource "azurerm_subnet" "this" {
  for_each = local.subnets

  name                 = "snet-${each.key}"
  resource_group_name  = var.resource_group_name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [each.value]
  # Egress goes through the cluster's load balancer or the gateway's public IP, never through
  # Azure's implicit default outbound access (being retired).
  default_outbound_access_enabled = false
  # NSGs apply to private endpoint traffic only with network policies enabled.
  private_endpoint_network_policies = each.key == "private_endpoints" ? "Enabled" : "Disabled"

  dynamic "delegation" {
    for_each = each.key == "database" ? ["postgresql"] : []
    content {
      name = "postgresql-flexible-server"
      service_delegation {
        name    = "Microsoft.DBforPostgreSQL/flexibleServers"
        actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
      }
    }
  }
}

resource "azurerm_network_security_group" "this" {
  for_each = local.inbound_rules

  name                = "nsg-${var.name}-${each.key}"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags

  dynamic "security_rule" {
    for_each = each.value
    content {
      name                       = security_rule.key
      priority                   = security_rule.value.priority
      direction                  = "Inbound"
      access                     = security_rule.value.access
      protocol                   = security_rule.value.protocol
      source_port_range          = "*"
      source_address_prefix      = security_rule.value.source_address_prefix
      destination_address_prefix = security_rule.value.destination_address_prefix
      destination_port_ranges    = security_rule.value.destination_port_ranges
    }
  }
}

resource "azurerm_subnet_network_security_group_association" "this" {
  for_each = local.inbound_rules

  subnet_id                 = azurerm_subnet.this[each.key].id
  network_security_group_id = azurerm_network_security_group.this[each.key].id
}

# The runner's way out (GitHub, package registries): subnets have no default outbound access, so
# a NAT gateway with its own public IP; the same address is what GitHub sees.
resource "azurerm_public_ip" "runners" {
  count = var.subnets.runners == null ? 0 : 1

  name                = "pip-${var.name}-runners"
  location            = var.location
  resource_group_name = var.resource_group_name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway" "runners" {
  count = var.subnets.runners == null ? 0 : 1

  name                = "ng-${var.name}-runners"
  location            = var.location
  resource_group_name = var.resource_group_name
  sku_name            = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway_public_ip_association" "runners" {
  count = var.subnets.runners == null ? 0 : 1

  nat_gateway_id       = azurerm_nat_gateway.runners[0].id
  public_ip_address_id = azurerm_public_ip.runners[0].id
}

resource "azurerm_subnet_nat_gateway_association" "runners" {
  count = var.subnets.runners == null ? 0 : 1

  subnet_id      = azurerm_subnet.this["runners"].id
  nat_gateway_id = azurerm_nat_gateway.runners[0].id
}
