# The smallest use of the module. `terraform validate` checks it
# (tests/terraform/test_terraform_real.py).
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

module "network" {
  source = "../.."

  name                = "vnet-orderdesk-example"
  location            = "westeurope"
  resource_group_name = "rg-orderdesk-example"
  address_space       = "10.10.0.0/16"
  subnets = {
    aks               = "10.10.0.0/20"
    appgw             = "10.10.16.0/24"
    private_endpoints = "10.10.17.0/24"
    database          = "10.10.18.0/24"
  }
}
