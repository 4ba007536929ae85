terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.2"
    }
    # Ephemeral random_password (since 3.7) generates the app's secrets: infra/secrets.tf.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  # State lives in the storage account that `invoke tf.bootstrap` creates; `invoke tf.plan` passes
  # resource_group_name, storage_account_name, container_name and key (<environment>.tfstate)
  # from env.yaml as -backend-config. The azurerm backend locks the state with a blob lease, so
  # two applies never write at once.
  backend "azurerm" {
    use_azuread_auth = true
  }
}
