variable "name" {
  description = "Name of the application gateway, e.g. agw-orderdesk-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9._-]{0,78}[a-zA-Z0-9_]$", var.name))
    error_message = "name must be 2-80 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the gateway."
  type        = string
}

variable "subnet_id" {
  description = "The gateway's dedicated subnet (nothing else may live in it)."
  type        = string
}

variable "zones" {
  description = "Availability zones for the gateway and its public IP."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for zone in var.zones : contains(["1", "2", "3"], zone)])
    error_message = "zones may only list \"1\", \"2\" and \"3\"."
  }
}

variable "private_ip_address" {
  description = "Internal exposure: the static private frontend address (in subnet_id's range) every listener uses. null: public exposure, listeners on the public IP."
  type        = string
  default     = null

  validation {
    condition     = var.private_ip_address == null || can(cidrhost("${coalesce(var.private_ip_address, "0.0.0.0")}/32", 0))
    error_message = "private_ip_address must be an IPv4 address from the gateway's subnet, or null for a public gateway."
  }
}

variable "capacity" {
  description = "Autoscaling bounds in gateway instances."
  type = object({
    min = number
    max = number
  })
  default = { min = 1, max = 3 }

  validation {
    condition     = var.capacity.min >= 0 && var.capacity.max <= 125 && var.capacity.min <= var.capacity.max && var.capacity.max >= 2
    error_message = "capacity needs 0 <= min <= max <= 125 and max >= 2."
  }
}

variable "waf_mode" {
  description = "Web application firewall mode: Prevention blocks, Detection only logs."
  type        = string
  default     = "Prevention"

  validation {
    condition     = contains(["Prevention", "Detection"], var.waf_mode)
    error_message = "waf_mode must be Prevention or Detection."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
