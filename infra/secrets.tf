# The app's secrets are generated here at apply time, never typed in. random_password is an
# ephemeral resource: its values exist only while Terraform runs and flow only into write-only
# arguments (value_wo, administrator_password_wo), so they are in neither the plan file nor the
# state. A fresh value is drawn on every run but written only when key_vault.secrets_version in
# env.yaml changes: bump it to rotate, and the next apply writes new values everywhere at once.
locals {
  app_secret_names = toset(["django-secret-key", "card-fingerprint-key", "database-password"])

  generated_secrets = {
    for name, secret in ephemeral.random_password.app : name => secret.result
  }
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
