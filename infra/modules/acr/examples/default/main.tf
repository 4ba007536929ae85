# The smallest use of the module. `terraform validate` checks it
# (tests/terraform/test_terraform_real.py); IDs are placeholders.
terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.2"
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

module "acr" {
  source = "../.."

  name                       = "acrorderdeskexample"
  location                   = "westeurope"
  resource_group_name        = "rg-orderdesk-example"
  private_endpoint_subnet_id = "${local.vnet_id}/subnets/snet-private_endpoints"
  virtual_network_id         = local.vnet_id
}
