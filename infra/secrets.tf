# The app's secrets are generated here at apply time, never typed in: uuid() draws 122 bits from
# crypto/rand, so two make a 244-bit key. They flow only into write-only arguments (value_wo,
# administrator_password_wo), so they are in neither the plan file nor the state. Rotation: bump
# key_vault.secrets_version in env.yaml; the next apply writes fresh values everywhere.
locals {
  database_password = "Od-${uuid()}${uuid()}" # pragma: allowlist secret (generated at apply)

  generated_secrets = {
    "django-secret-key"    = "${uuid()}${uuid()}"
    "card-fingerprint-key" = "${uuid()}${uuid()}"
    "database-password"    = local.database_password
  }
}
