# The smallest use of the module with a generated password. `terraform validate` checks it
# (tests/terraform/test_terraform_real.py); IDs are placeholders.
terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.2"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

provider "azurerm" {
  features {}
}

locals {
  resource_group = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-example"
  vnet_id        = "${local.resource_group}/providers/Microsoft.Network/virtualNetworks/vnet-orderdesk-example"
}

# Generated at apply time and handed on write-only: in neither the plan nor the state.
ephemeral "random_password" "administrator" {
  length      = 64
  special     = false
  min_upper   = 1
  min_lower   = 1
  min_numeric = 1
}

module "database" {
  source = "../.."

  name                           = "psql-orderdesk-example"
  location                       = "westeurope"
  resource_group_name            = "rg-orderdesk-example"
  tenant_id                      = "00000000-0000-0000-0000-000000000000"
  sku                            = "B_Standard_B1ms"
  delegated_subnet_id            = "${local.vnet_id}/subnets/snet-database"
  virtual_network_id             = local.vnet_id
  log_analytics_workspace_id     = "${local.resource_group}/providers/Microsoft.OperationalInsights/workspaces/log-orderdesk-example"
  administrator_password         = ephemeral.random_password.administrator.result
  administrator_password_version = 1
}
