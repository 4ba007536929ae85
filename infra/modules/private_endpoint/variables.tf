variable "name" {
  description = "Name of the resource the endpoint serves, e.g. acrorderdeskdev; the endpoint is pe-<name>, the VNet link link-<name>."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9._-]{0,75}[a-zA-Z0-9_]$", var.name))
    error_message = "name must be 2-77 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "location" {
  description = "Azure region of the endpoint: the region of its subnet's VNet."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the endpoint and the private DNS zone."
  type        = string
}

variable "resource_id" {
  description = "ID of the resource reached through the endpoint (registry, vault, SQL server, ...)."
  type        = string

  validation {
    condition     = can(regex("^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/.+$", var.resource_id))
    error_message = "resource_id must be an Azure resource ID (/subscriptions/.../providers/...)."
  }
}

variable "subresource_name" {
  description = "The resource's private link sub-resource (group ID): registry, vault, sqlServer, ..."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]*$", var.subresource_name))
    error_message = "subresource_name must be a private link group ID such as registry, vault or sqlServer."
  }
}

variable "private_dns_zone_name" {
  description = "The service's privatelink zone, e.g. privatelink.azurecr.io, so clients in the VNet resolve the resource's usual name to the endpoint."
  type        = string

  validation {
    condition     = startswith(var.private_dns_zone_name, "privatelink.") && can(regex("^[a-z0-9.-]+$", var.private_dns_zone_name))
    error_message = "private_dns_zone_name must be the service's privatelink zone, such as privatelink.azurecr.io."
  }
}

variable "subnet_id" {
  description = "Subnet the endpoint's private IP comes from."
  type        = string

  validation {
    condition     = can(regex("/subnets/[^/]+$", var.subnet_id))
    error_message = "subnet_id must be a subnet ID (…/virtualNetworks/<vnet>/subnets/<subnet>)."
  }
}

variable "virtual_network_id" {
  description = "VNet the private DNS zone is linked to."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
