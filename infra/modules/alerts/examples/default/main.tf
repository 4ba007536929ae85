# The smallest use of the module: alarms with their defaults on an existing cluster.
# `terraform validate` checks it (tests/terraform/test_terraform_real.py).
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

module "alerts" {
  source = "../.."

  name                = "orderdesk-example"
  short_name          = "od-example"
  location            = "westeurope"
  resource_group_name = "rg-orderdesk-example"
  cluster_id          = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-example/providers/Microsoft.ContainerService/managedClusters/aks-orderdesk-example"
  runbook_url         = "https://github.com/orderdesk/orderdesk/blob/main/monitoring/runbooks.md"
}
