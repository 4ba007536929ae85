variable "teams_webhook_url" {
  description = "Teams workflow URL; pass it as TF_VAR_teams_webhook_url, never in a file."
  type        = string
  sensitive   = true
}
