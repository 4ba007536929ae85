variable "environment" {
  description = "Which environment of env.yaml to build, e.g. dev or prod (one with an azure block)."
  type        = string

  validation {
    condition     = contains(keys(local.environments), var.environment)
    error_message = "environment must be one of the environments in env.yaml."
  }

  validation {
    condition     = try(local.environments[var.environment].azure, null) != null
    error_message = "This environment has no azure block in env.yaml (it runs locally); choose one that deploys to Azure."
  }
}

variable "teams_webhook_url" {
  description = "Teams workflow URL the Azure Monitor alarms post to: the channel of Alertmanager's TEAMS_WEBHOOK_URL. Ephemeral: written to Key Vault write-only (teams-webhook-url, once per its version), so it is in neither the saved plan nor the state; give it again to apply a saved plan. Pass it as TF_VAR_teams_webhook_url, never in a file."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = null

  validation {
    condition     = var.teams_webhook_url != null
    error_message = "No Teams webhook URL for the Azure Monitor alarms: export TF_VAR_teams_webhook_url (the Teams workflow URL, as TEAMS_WEBHOOK_URL for Alertmanager) and plan again."
  }

  validation {
    condition     = var.teams_webhook_url == null || can(regex("^https://[^/\\s]+/\\S+$", var.teams_webhook_url))
    error_message = "teams_webhook_url must be the https URL of the Teams workflow (\"When a Teams webhook request is received\")."
  }
}
