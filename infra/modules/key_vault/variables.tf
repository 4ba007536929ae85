variable "name" {
  description = "Globally unique vault name, 3-24 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-24 letters, digits and single dashes, starting with a letter."
  }
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the vault."
  type        = string
}

variable "tenant_id" {
  description = "Entra ID tenant that authenticates requests to the vault."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", var.tenant_id))
    error_message = "tenant_id must be a lowercase GUID."
  }
}

variable "writer_object_id" {
  description = "Entra ID object id of the identity that applies Terraform: it writes the secrets and creates the signing key (Key Vault Secrets Officer and Crypto Officer)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", var.writer_object_id))
    error_message = "writer_object_id must be a lowercase GUID (an Entra ID object id)."
  }
}

variable "reader_object_ids" {
  description = "Entra ID object ids of identities that only plan: they may read the secrets and keys a plan refreshes, nothing more."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.reader_object_ids : can(regex("^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", id))])
    error_message = "reader_object_ids must be lowercase GUIDs (Entra ID object ids)."
  }
}

variable "role_propagation_wait" {
  description = "How long to wait after creating the writer's roles before writing secrets: Key Vault's RBAC guide gives up to 10 minutes for a role assignment to apply."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+[sm]$", var.role_propagation_wait))
    error_message = "role_propagation_wait must be a duration such as 120s or 2m."
  }
}

variable "private_endpoint_subnet_id" {
  description = "Subnet for the vault's private endpoint."
  type        = string
}

variable "virtual_network_id" {
  description = "VNet the privatelink.vaultcore.azure.net zone is linked to."
  type        = string
}

variable "deployer_ip_ranges" {
  description = "Public CIDRs of whoever runs terraform apply (it writes the secrets through the data plane). Empty: the vault has no public access at all and apply must run inside the VNet."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for cidr in var.deployer_ip_ranges : can(cidrhost(cidr, 0)) && !endswith(cidr, "/0")])
    error_message = "deployer_ip_ranges must be CIDRs narrower than /0, such as 203.0.113.0/24."
  }
}

variable "soft_delete_retention_days" {
  description = "Days a deleted secret (or the vault) stays recoverable."
  type        = number
  default     = 90

  validation {
    condition     = var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90
    error_message = "soft_delete_retention_days must be between 7 and 90."
  }
}

variable "secret_versions" {
  description = "The secrets to store, each with the version of its write-only value, e.g. { django-secret-key = 1 }. Bump one secret's version to write a new value of that secret alone (rotation); unchanged, the stored value stays."
  type        = map(number)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.secret_versions) : can(regex("^[a-zA-Z0-9-]{1,127}$", name))])
    error_message = "Secret names may only contain letters, digits and dashes (at most 127)."
  }

  validation {
    condition     = alltrue([for version in values(var.secret_versions) : version >= 1 && floor(version) == version])
    error_message = "Each secret's version must be a whole number of at least 1."
  }
}

variable "secret_values" {
  description = "Secret values by name. Ephemeral: each is sent to Key Vault once per version of it and never stored in plan or state."
  type        = map(string)
  default     = {}
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = alltrue([for name in keys(var.secret_versions) : contains(keys(var.secret_values), name)])
    error_message = "secret_values needs a value for every name in secret_versions."
  }
}

variable "irreplaceable_secret_names" {
  description = "Secrets a fresh value cannot stand in for (a database password the server keeps, a key stored data was made with). Once written, one that Key Vault no longer has is refused rather than written anew: recover it, or bump its version to rotate it."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for name in var.irreplaceable_secret_names : contains(keys(var.secret_versions), name)])
    error_message = "irreplaceable_secret_names may only name secrets listed in secret_versions."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "image_signing_key_name" {
  description = "Name of the key that signs the app's images; ops/image/common.py's signing_key_name says the same."
  type        = string
  default     = "image-signing"

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,127}$", var.image_signing_key_name))
    error_message = "image_signing_key_name may hold only letters, digits and dashes (1-127)."
  }
}
