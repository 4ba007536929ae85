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

module "aks" {
  source = "../.."

  name                    = "aks-orderdesk-example"
  location                = "westeurope"
  resource_group_name     = "rg-orderdesk-example"
  tenant_id               = "00000000-0000-0000-0000-000000000000"
  kubernetes_version      = "1.36"
  node_subnet_id          = "${local.vnet_id}/subnets/snet-aks"
  app_gateway_id          = "${local.resource_group}/providers/Microsoft.Network/applicationGateways/agw-orderdesk-example"
  service_cidr            = "172.20.0.0/16"
  private_cluster_enabled = true
  node_pool = {
    vm_size   = "Standard_D2s_v5"
    min_count = 2
    max_count = 4
    zones     = ["1", "2", "3"]
  }
}
