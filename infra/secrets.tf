# The app's secrets are generated here at apply time, never typed in. random_password is an
# ephemeral resource: its values exist only while Terraform runs and flow only into write-only
# arguments (value_wo, administrator_password_wo), so they are in neither the plan file nor the
# state. The Teams webhook URL comes in the same way, as an ephemeral variable.
#
# Each secret has a version of its own in env.yaml (key_vault.secret_versions): a fresh value is
# drawn on every run but written only when that secret's version changes, so bumping one rotates
# that secret alone; the database server's administrator password follows database-password's.
locals {
  app_secret_names = toset(["django-secret-key", "card-fingerprint-key", "database-password"])

  # A new value cannot replace a lost one of these (the server keeps the old password, stored card
  # fingerprints were keyed with the old key): the key_vault module refuses to write one anew.
  irreplaceable_secret_names = toset(["card-fingerprint-key", "database-password"])

  secret_versions = local.azure.key_vault.secret_versions

  # Ephemeral, like their sources: only write-only arguments receive them.
  vault_secret_values = merge(
    { for name, secret in ephemeral.random_password.app : name => secret.result },
    { "teams-webhook-url" = var.teams_webhook_url },
  )
}

ephemeral "random_password" "app" {
  for_each = local.app_secret_names

  # 64 characters from 62 letters and digits: 381 bits. Letters and digits only, so the values
  # survive environment variables and connection URLs unquoted; at least one of each class meets
  # Azure's database password rule (three of upper, lower, digit, symbol).
  length      = 64
  special     = false
  min_upper   = 1
  min_lower   = 1
  min_numeric = 1
}
