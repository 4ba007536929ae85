# The smallest use of the module with a generated secret. `terraform validate` checks it
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
ephemeral "random_password" "django_secret_key" {
  length  = 64
  special = false
}

module "key_vault" {
  source = "../.."

  name                       = "kv-orderdesk-example"
  location                   = "westeurope"
  resource_group_name        = "rg-orderdesk-example"
  tenant_id                  = "00000000-0000-0000-0000-000000000000"
  private_endpoint_subnet_id = "${local.vnet_id}/subnets/snet-private_endpoints"
  virtual_network_id         = local.vnet_id
  # No public access at all: apply from inside the VNet.
  deployer_ip_ranges = []
  secret_versions    = { "django-secret-key" = 1 }
  secret_values      = { "django-secret-key" = ephemeral.random_password.django_secret_key.result }
  writer_object_id   = "00000000-0000-0000-0000-000000000000"
}
