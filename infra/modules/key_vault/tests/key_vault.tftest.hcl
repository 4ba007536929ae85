mock_provider "azurerm" {
  # The vault as it stands before any apply: no secret in it yet.
  mock_data "azurerm_key_vault_secrets" {
    defaults = {
      names = []
    }
  }

  # A mocked apply fills computed attributes with random strings ("Mocks", Terraform's testing
  # docs), but the ids feed arguments that azurerm and the private_endpoint module parse as Azure
  # resource IDs (a role assignment's scope, a zone link's zone): give them real-shaped ones.
  mock_resource "azurerm_key_vault" {
    defaults = {
      id        = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.KeyVault/vaults/kv-orderdesk-test"
      vault_uri = "https://kv-orderdesk-test.vault.azure.net/"
    }
  }
  mock_resource "azurerm_private_dns_zone" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net"
    }
  }
}

variables {
  name                       = "kv-orderdesk-test"
  location                   = "westeurope"
  resource_group_name        = "rg-orderdesk-test"
  tenant_id                  = "11111111-2222-3333-4444-555555555555"
  private_endpoint_subnet_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-private_endpoints"
  virtual_network_id         = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet"
  secret_versions            = { "django-secret-key" = 1, "card-fingerprint-key" = 1 }
  secret_values              = { "django-secret-key" = "test-value-1", "card-fingerprint-key" = "test-value-2" }
  irreplaceable_secret_names = ["card-fingerprint-key"]
  writer_object_id           = "55555555-4444-3333-2222-111111111111"
  reader_object_ids          = ["77777777-6666-5555-4444-333333333333"]
  tags                       = { environment = "test" }
}

run "purge_protection_is_on" {
  command = plan

  assert {
    condition     = azurerm_key_vault.this.purge_protection_enabled == true
    error_message = "Purge protection must be on: a deleted vault or secret stays recoverable."
  }
  assert {
    condition     = azurerm_key_vault.this.soft_delete_retention_days == 90
    error_message = "Soft-deleted items must be kept for 90 days by default."
  }
}

run "access_is_azure_rbac" {
  command = plan

  assert {
    condition     = azurerm_key_vault.this.rbac_authorization_enabled == true
    error_message = "The vault must authorise with Azure RBAC, not access policies."
  }
}

run "vault_has_no_public_access_without_deployer_ranges" {
  command = plan

  assert {
    condition     = azurerm_key_vault.this.public_network_access_enabled == false && azurerm_key_vault.this.network_acls[0].default_action == "Deny"
    error_message = "With no deployer ranges the vault must be private and deny by default."
  }
}

run "deployer_ranges_open_only_the_firewall_for_them" {
  command = plan

  variables {
    deployer_ip_ranges = ["203.0.113.0/24"]
  }

  assert {
    condition     = azurerm_key_vault.this.network_acls[0].default_action == "Deny" && azurerm_key_vault.this.network_acls[0].ip_rules == toset(["203.0.113.0/24"])
    error_message = "Deployer ranges must be the only public addresses let through."
  }
}

run "vault_is_reached_through_a_private_endpoint" {
  command = plan

  assert {
    condition     = module.private_endpoint.subresource_names == tolist(["vault"]) && module.private_endpoint.private_dns_zone_name == "privatelink.vaultcore.azure.net" && module.private_endpoint.subnet_id == var.private_endpoint_subnet_id
    error_message = "The vault needs a private endpoint and its privatelink zone."
  }
}

run "secrets_are_write_only" {
  command = plan

  assert {
    condition     = toset(keys(azurerm_key_vault_secret.this)) == toset(["django-secret-key", "card-fingerprint-key"])
    error_message = "One secret per name must be created."
  }
  assert {
    # Write-only values are null in the plan: nothing of the secret is recorded.
    condition     = alltrue([for secret in azurerm_key_vault_secret.this : secret.value_wo == null && secret.value == null && secret.value_wo_version == 1])
    error_message = "Secret values must only be sent write-only, versioned by secret_versions."
  }
}

# The workflows plan with a read-only identity and apply with another (.github/workflows/README.md):
# a plan-time azurerm_client_config is the planner, so the writer's role must name the applier.
run "the_applying_identity_may_write_secrets" {
  command = plan

  assert {
    condition     = azurerm_role_assignment.deployer_secrets_officer.role_definition_name == "Key Vault Secrets Officer" && azurerm_role_assignment.deployer_secrets_officer.principal_id == "55555555-4444-3333-2222-111111111111"
    error_message = "The identity that applies needs Key Vault Secrets Officer to write the secrets."
  }
  assert {
    condition     = azurerm_role_assignment.deployer_crypto_officer.principal_id == "55555555-4444-3333-2222-111111111111"
    error_message = "The identity that applies creates the signing key."
  }
}

# azurerm refreshes azurerm_key_vault_secret with GetSecret, which reads the value
# (internal/services/keyvault/key_vault_secret_resource.go): the planner needs Secrets User.
run "the_planning_identity_may_read_what_plan_refreshes_and_nothing_more" {
  command = plan

  assert {
    condition     = azurerm_role_assignment.planner_secrets_user["77777777-6666-5555-4444-333333333333"].role_definition_name == "Key Vault Secrets User" && azurerm_role_assignment.planner_reader["77777777-6666-5555-4444-333333333333"].role_definition_name == "Key Vault Reader"
    error_message = "The planning identity needs to read secrets and keys' metadata, no more."
  }
}

# Key Vault's RBAC guide, "Known limits and performance": "it will take up to 10 minutes (600
# seconds) after role assignments is changed for role to be applied": wait that long, once.
run "secrets_wait_for_the_writers_role_to_propagate" {
  command = plan

  assert {
    condition     = time_sleep.role_propagation.create_duration == "600s"
    error_message = "Secrets must wait, bounded, for the role assignment to propagate."
  }
}

run "rejects_a_writer_that_is_not_an_object_id" {
  command = plan

  variables {
    writer_object_id = "ops@example.com"
  }
  expect_failures = [var.writer_object_id]
}

run "rejects_a_reader_that_is_not_an_object_id" {
  command = plan

  variables {
    reader_object_ids = ["planner"]
  }
  expect_failures = [var.reader_object_ids]
}

run "rejects_an_unbounded_propagation_wait" {
  command = plan

  variables {
    role_propagation_wait = "forever"
  }
  expect_failures = [var.role_propagation_wait]
}

run "rejects_a_bad_vault_name" {
  command = plan

  variables {
    name = "kv--orderdesk"
  }
  expect_failures = [var.name]
}

run "rejects_a_tenant_that_is_not_a_guid" {
  command = plan

  variables {
    tenant_id = "not-a-guid"
  }
  expect_failures = [var.tenant_id]
}

run "rejects_the_whole_internet_as_a_deployer_range" {
  command = plan

  variables {
    deployer_ip_ranges = ["0.0.0.0/0"]
  }
  expect_failures = [var.deployer_ip_ranges]
}

run "rejects_soft_delete_retention_out_of_range" {
  command = plan

  variables {
    soft_delete_retention_days = 3
  }
  expect_failures = [var.soft_delete_retention_days]
}

run "rejects_a_bad_secret_name" {
  command = plan

  variables {
    secret_versions            = { "django_secret_key" = 1 }
    secret_values              = { "django_secret_key" = "x" }
    irreplaceable_secret_names = []
  }
  expect_failures = [var.secret_versions]
}

run "rejects_a_secret_without_a_value" {
  command = plan

  variables {
    secret_values = { "django-secret-key" = "only-one" }
  }
  expect_failures = [var.secret_values]
}

run "rejects_a_version_below_one" {
  command = plan

  variables {
    secret_versions = { "django-secret-key" = 0, "card-fingerprint-key" = 1 }
  }
  expect_failures = [var.secret_versions]
}

run "rejects_an_irreplaceable_secret_it_does_not_store" {
  command = plan

  variables {
    irreplaceable_secret_names = ["database-password"]
  }
  expect_failures = [var.irreplaceable_secret_names]
}

# value_wo_version: azurerm internal/services/keyvault/key_vault_secret_resource.go (an int, at
# least 1; a changed one makes azurerm send value_wo again, as a new version of the secret).
run "each_secret_rotates_on_its_own_version" {
  command = plan

  variables {
    secret_versions = { "django-secret-key" = 3, "card-fingerprint-key" = 1 }
  }

  assert {
    condition     = azurerm_key_vault_secret.this["django-secret-key"].value_wo_version == 3 && azurerm_key_vault_secret.this["card-fingerprint-key"].value_wo_version == 1
    error_message = "Each secret must be written on its own version, the others left as they are."
  }
  assert {
    condition     = output.secret_versions["django-secret-key"] == 3 && output.secret_versions["card-fingerprint-key"] == 1 && length(output.secret_versions) == 2
    error_message = "The module must report each secret's version in force."
  }
}

run "image_signing_key_is_an_ec_p256_key_for_sign_and_verify_only" {
  command = plan

  assert {
    condition     = azurerm_key_vault_key.image_signing.key_type == "EC" && azurerm_key_vault_key.image_signing.curve == "P-256"
    error_message = "The image signing key must be EC P-256 (cosign's azurekms provider signs ECDSA)."
  }
  assert {
    condition     = toset(azurerm_key_vault_key.image_signing.key_opts) == toset(["sign", "verify"])
    error_message = "The image signing key may only sign and verify."
  }
  assert {
    condition     = output.image_signing_key_uri == "azurekms://kv-orderdesk-test.vault.azure.net/image-signing"
    error_message = "The key's URI must be the one `invoke image.sign` passes to cosign."
  }
}

run "rejects_a_bad_image_signing_key_name" {
  command = plan

  variables {
    image_signing_key_name = "image_signing"
  }
  expect_failures = [var.image_signing_key_name]
}

# --- a lost irreplaceable secret is refused, never written anew (these runs share one state) -----

# The first apply writes every secret into an empty vault. The real time provider waits the 2 s:
# the runs after this one plan at least one second (plantimestamp()'s resolution) later.
run "first_apply_writes_the_secrets_into_an_empty_vault" {
  command = apply

  variables {
    role_propagation_wait = "2s"
  }

  assert {
    condition     = toset(keys(azurerm_key_vault_secret.this)) == toset(["django-secret-key", "card-fingerprint-key"])
    error_message = "The first apply must write every secret."
  }
}

run "a_later_plan_with_every_secret_in_the_vault_passes" {
  command = plan

  variables {
    role_propagation_wait = "2s"
  }
  override_data {
    target = data.azurerm_key_vault_secrets.present
    values = { names = ["django-secret-key", "card-fingerprint-key"] }
  }
}

# azurerm drops a secret from the state on Key Vault's 404 and would write a fresh random value
# (internal/services/keyvault/key_vault_secret_resource.go, Read): refused for an irreplaceable one.
run "a_lost_irreplaceable_secret_is_refused" {
  command = plan

  variables {
    role_propagation_wait = "2s"
  }
  override_data {
    target = data.azurerm_key_vault_secrets.present
    values = { names = ["django-secret-key"] }
  }
  expect_failures = [azurerm_key_vault_secret.this]
}

run "a_lost_replaceable_secret_is_written_anew" {
  command = plan

  variables {
    role_propagation_wait = "2s"
  }
  override_data {
    target = data.azurerm_key_vault_secrets.present
    values = { names = ["card-fingerprint-key"] }
  }
}

# The rotation step the refusal names: a new version of the lost secret is written on purpose.
run "a_lost_irreplaceable_secret_is_written_when_rotated" {
  command = plan

  variables {
    role_propagation_wait = "2s"
    secret_versions       = { "django-secret-key" = 1, "card-fingerprint-key" = 2 }
  }
  override_data {
    target = data.azurerm_key_vault_secrets.present
    values = { names = ["django-secret-key"] }
  }

  assert {
    condition     = azurerm_key_vault_secret.this["card-fingerprint-key"].value_wo_version == 2
    error_message = "Rotating the lost secret must write its new version."
  }
}
