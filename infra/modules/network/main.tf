locals {
  # Every CIDR of the address plan as its first and last address in integer form, computed once
  # for the overlap and containment rules in variables.tf (Terraform has no CIDR-overlap
  # function). An unparsable CIDR becomes null; the shape rules report it.
  address_plan = merge(var.subnets, { address_space = var.address_space, service_cidr = var.service_cidr })
  ranges = {
    for name, cidr in local.address_plan : name => try({
      first = sum([for i, octet in split(".", cidrhost(cidr, 0)) : tonumber(octet) * pow(256, 3 - i)])
      size  = pow(2, 32 - tonumber(split("/", cidr)[1]))
    }, null)
  }

  # The last word of every subnet that the internet has no business reaching.
  deny_all_inbound = {
    priority                   = 4096
    access                     = "Deny"
    protocol                   = "*"
    source_address_prefix      = "*"
    destination_address_prefix = "*"
    destination_port_ranges    = ["0-65535"]
  }

  # Inbound rules per subnet, written out so a reviewer sees every allowed path. Anything not
  # listed falls through to the explicit DenyAllInbound (or, for aks, DenyInternetInbound).
  inbound_rules = {
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
      # Port 80 only answers with a redirect to HTTPS (and ACME HTTP-01 challenges).
      AllowWebFromInternet = {
        priority                   = 120
        access                     = "Allow"
        protocol                   = "Tcp"
        source_address_prefix      = "Internet"
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
}

resource "azurerm_subnet" "this" {
  for_each = var.subnets

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
