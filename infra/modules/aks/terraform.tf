terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.2"
    }
    # time_sleep: waits for role assignments to propagate before the cluster is created.
    time = {
      source  = "hashicorp/time"
      version = "~> 0.14"
    }
  }
}
