# The subscription comes from ARM_SUBSCRIPTION_ID (set by the tf tasks from env.yaml or the CI
# environment), the tenant from whoever is logged in; env.yaml holds only placeholders in git.
provider "azurerm" {
  # The state and nothing else uses storage; shared keys are disabled on that account.
  storage_use_azuread = true

  features {
    key_vault {
      # Purge protection is on: a deleted vault is recovered, never purged, by Terraform.
      purge_soft_delete_on_destroy    = false
      recover_soft_deleted_key_vaults = true
    }
    resource_group {
      prevent_deletion_if_contains_resources = true
    }
  }
}
