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
