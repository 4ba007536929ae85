variable "name" {
  description = "Globally unique registry name, 5-50 letters and digits; the login server is <name>.azurecr.io."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9]{5,50}$", var.name))
    error_message = "name must be 5-50 letters and digits (no dashes)."
  }
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the registry."
  type        = string
}

variable "sku" {
  description = "Registry SKU. Private endpoints exist only in Premium."
  type        = string
  default     = "Premium"

  validation {
    condition     = var.sku == "Premium"
    error_message = "sku must be Premium: Basic and Standard registries cannot have private endpoints or disable public access."
  }
}

variable "private_endpoint_subnet_id" {
  description = "Subnet for the registry's private endpoint."
  type        = string
}

variable "virtual_network_id" {
  description = "VNet the privatelink.azurecr.io zone is linked to, so nodes resolve the registry privately."
  type        = string
}

variable "pusher_ip_ranges" {
  description = "Public CIDRs of the CI runners that push images. Empty: the registry has no public endpoint and images are pushed from inside the VNet (private endpoint)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for cidr in var.pusher_ip_ranges : can(cidrhost(cidr, 0)) && !endswith(cidr, "/0")])
    error_message = "pusher_ip_ranges must be CIDRs narrower than /0, such as 198.51.100.0/28."
  }
}

variable "zone_redundancy_enabled" {
  description = "Spread the registry over availability zones."
  type        = bool
  default     = true
}

variable "untagged_retention_days" {
  description = "Days an untagged manifest is kept before it is purged."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_retention_days >= 0 && var.untagged_retention_days <= 365
    error_message = "untagged_retention_days must be between 0 and 365."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
