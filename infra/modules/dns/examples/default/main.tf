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

module "dns" {
  source = "../.."

  zone_name           = "orderdesk.example.com"
  resource_group_name = "rg-orderdesk-example"
  hosts               = ["orderdesk.example.com", "grafana.orderdesk.example.com"]
  target_ip           = "203.0.113.10"
}
