resource "azurerm_key_vault" "this" {
  # checkov:skip=CKV_AZURE_189: Public access is on only while deployer_ip_ranges lists the deployers' networks, which the firewall then admits alone; checkov cannot evaluate length(var.deployer_ip_ranges) > 0 for a caller passing [] (tests/key_vault.tftest.hcl checks both cases).
  # checkov:skip=CKV2_AZURE_32: The vault's private endpoint is module.private_endpoint below; checkov's graph does not follow a resource ID into a module call.
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  tenant_id           = var.tenant_id
  sku_name            = "standard"
  tags                = var.tags

  # Access is Azure RBAC (roles on the vault), not per-vault access policies.
  rbac_authorization_enabled = true
  purge_protection_enabled   = true
  soft_delete_retention_days = var.soft_delete_retention_days

  public_network_access_enabled = length(var.deployer_ip_ranges) > 0
  network_acls {
    default_action = "Deny"
    bypass         = "AzureServices"
    ip_rules       = var.deployer_ip_ranges
  }
}

module "private_endpoint" {
  source = "../private_endpoint"

  name                  = var.name
  location              = var.location
  resource_group_name   = var.resource_group_name
  resource_id           = azurerm_key_vault.this.id
  subresource_name      = "vault"
  private_dns_zone_name = "privatelink.vaultcore.azure.net"
  subnet_id             = var.private_endpoint_subnet_id
  virtual_network_id    = var.virtual_network_id
  tags                  = var.tags
}

# Where these lived before the private_endpoint submodule: state moves, nothing is recreated.
moved {
  from = azurerm_private_dns_zone.vault
  to   = module.private_endpoint.azurerm_private_dns_zone.this
}

moved {
  from = azurerm_private_dns_zone_virtual_network_link.vault
  to   = module.private_endpoint.azurerm_private_dns_zone_virtual_network_link.this
}

moved {
  from = azurerm_private_endpoint.vault
  to   = module.private_endpoint.azurerm_private_endpoint.this
}

# The identity that applies writes the secrets, so it needs the data-plane role (RBAC vaults
# grant nothing to their creator). It is not the one that plans: the workflows plan with a
# read-only identity and apply with this one.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = var.writer_object_id
}

# The identity that plans refreshes the secrets and the key: azurerm reads a secret with
# GetSecret (its value) and a key with GetKey, which the Reader role's metadata access does not
# cover for secrets.
resource "azurerm_role_assignment" "planner_secrets_user" {
  for_each = toset(var.reader_object_ids)

  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = each.value
}

resource "azurerm_role_assignment" "planner_reader" {
  for_each = toset(var.reader_object_ids)

  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Reader"
  principal_id         = each.value
}

# A role assignment takes up to 10 minutes to reach Key Vault's data plane ("Role assignments
# latency", Key Vault's RBAC guide): writing the secrets and the key right after creating the
# roles would fail with 403 on a first apply. Bounded wait, once.
resource "time_sleep" "role_propagation" {
  create_duration = var.role_propagation_wait

  triggers = {
    secrets_officer = azurerm_role_assignment.deployer_secrets_officer.id
    crypto_officer  = azurerm_role_assignment.deployer_crypto_officer.id
  }
}

resource "azurerm_key_vault_secret" "this" {
  # checkov:skip=CKV_AZURE_41: An expiry would take the app down on that date; a secret is rotated by bumping its version instead.
  for_each = var.secret_versions

  name         = each.key
  key_vault_id = azurerm_key_vault.this.id
  content_type = "text/plain"
  tags         = var.tags
  # Write-only: the value goes to Key Vault and nowhere else (not the plan, not the state), once
  # per version of this secret alone.
  value_wo         = var.secret_values[each.key]
  value_wo_version = each.value

  lifecycle {
    # azurerm drops a secret from the state when Key Vault answers 404 on refresh, and the next
    # apply would write a fresh random value (internal/services/keyvault/key_vault_secret_resource.go).
    # For an irreplaceable secret that is data loss, so it is refused: written before (in an
    # earlier run, at this version) and no longer listed by the vault means "not found".
    precondition {
      # The operators end the lines: checkov's HCL parser fails on a line that starts with one,
      # and then skips every check of this file.
      condition = (
        !contains(var.irreplaceable_secret_names, each.key) ||
        contains(data.azurerm_key_vault_secrets.present.names, each.key) ||
        try(terraform_data.first_written[each.key].output == plantimestamp(), true)
      )
      error_message = "Key Vault ${var.name} no longer has secret ${each.key}, which an earlier apply wrote at version ${each.value}: Terraform will not write a new random value over a lost one (the database keeps its password; stored card fingerprints were made with the old key). If it was deleted by mistake, recover it (az keyvault secret recover --vault-name ${var.name} --name ${each.key}) and import it; to replace it on purpose, rotate it: bump ${each.key} in key_vault.secret_versions in infra/env.yaml (infra/README.md, \"Rotating a secret\") and plan again."
    }
  }

  # Without public access (prod) the data plane answers only through the private endpoint.
  depends_on = [time_sleep.role_propagation, module.private_endpoint]
}

# The secrets the vault holds now (GetSecrets lists no deleted one: azurerm
# internal/services/keyvault/key_vault_secrets_data_source.go), read at plan time once the
# writer's roles exist; the planner's Key Vault Reader role may list them.
data "azurerm_key_vault_secrets" "present" {
  key_vault_id = azurerm_key_vault.this.id

  # Without public access (prod) the data plane answers only through the private endpoint.
  depends_on = [time_sleep.role_propagation, module.private_endpoint]
}

# When each irreplaceable secret's current version was first planned: the plan's own timestamp
# while that write is in this plan, an earlier one after. A new version starts it afresh.
resource "terraform_data" "first_written" {
  for_each = var.irreplaceable_secret_names

  input            = plantimestamp()
  triggers_replace = var.secret_versions[each.key]

  lifecycle {
    ignore_changes = [input]
  }
}

# The key that signs the app's images (`invoke image.sign`, cosign's azurekms:// provider): an
# EC P-256 key whose private half never leaves the vault. Creating keys takes the crypto role;
# it also lets the same identity sign in CI and verify before deploy.
resource "azurerm_role_assignment" "deployer_crypto_officer" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Crypto Officer"
  principal_id         = var.writer_object_id
}

resource "azurerm_key_vault_key" "image_signing" {
  # checkov:skip=CKV_AZURE_40: An expiry would stop every deploy on that date; rotate by renaming the key (image.signing_key_name) and signing again.
  # checkov:skip=CKV_AZURE_112: HSM-backed keys need the premium SKU; the vault is standard and the key signs only image digests.
  name         = var.image_signing_key_name
  key_vault_id = azurerm_key_vault.this.id
  key_type     = "EC"
  curve        = "P-256"
  key_opts     = ["sign", "verify"]
  tags         = var.tags

  # Without public access (prod) the data plane answers only through the private endpoint.
  depends_on = [time_sleep.role_propagation, module.private_endpoint]
}
