variable "name" {
  description = "Name of the virtual network, e.g. vnet-orderdesk-dev. Subnets and NSGs are named after it."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}[a-zA-Z0-9_]$", var.name))
    error_message = "name must be 2-64 letters, digits, '.', '_' or '-', starting with a letter or digit."
  }
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the network."
  type        = string
}

variable "address_space" {
  description = "The VNet's IPv4 CIDR; every subnet must lie inside it."
  type        = string

  validation {
    condition     = can(cidrhost(var.address_space, 0)) && !strcontains(var.address_space, ":")
    error_message = "address_space must be an IPv4 CIDR such as 10.10.0.0/16."
  }
}

variable "subnets" {
  description = "IPv4 CIDRs of the subnets: AKS nodes and pods, the application gateway, private endpoints, the database (delegated) and, optionally, the self-hosted CI runner that reaches the private endpoints and a private API server."
  type = object({
    aks               = string
    appgw             = string
    private_endpoints = string
    database          = string
    runners           = optional(string)
  })

  validation {
    condition     = alltrue([for cidr in values(var.subnets) : can(cidrhost(cidr, 0)) && !strcontains(cidr, ":") if cidr != null])
    error_message = "Every subnet must be an IPv4 CIDR such as 10.10.0.0/20."
  }

  validation {
    # An application gateway v2 needs at least a /26 of its own; AKS with Azure CNI needs room for
    # max_pods + 1 addresses per node.
    condition     = try(tonumber(split("/", var.subnets.appgw)[1]) <= 26 && tonumber(split("/", var.subnets.aks)[1]) <= 22, true)
    error_message = "The appgw subnet must be /26 or larger and the aks subnet /22 or larger."
  }
}

variable "service_cidr" {
  description = "The cluster's Kubernetes service range: part of the address plan, outside the VNet (and anything peered with it). The aks module takes it from the output of the same name."
  type        = string
  default     = "172.16.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.service_cidr, 10)) && !strcontains(var.service_cidr, ":")
    error_message = "service_cidr must be an IPv4 CIDR with room for the cluster DNS address (.10), such as 172.20.0.0/16."
  }
}

variable "app_port" {
  description = "TCP port the app's pods listen on; the application gateway reaches pods directly (Azure CNI)."
  type        = number
  default     = 5000

  validation {
    condition     = var.app_port >= 1 && var.app_port <= 65535 && floor(var.app_port) == var.app_port
    error_message = "app_port must be a whole number from 1 to 65535."
  }
}

variable "web_source" {
  description = "Who may reach the application gateway's web ports (80, 443): Internet for a public environment, VirtualNetwork for an internal one."
  type        = string
  default     = "Internet"
  nullable    = false

  validation {
    condition     = contains(["Internet", "VirtualNetwork"], var.web_source)
    error_message = "web_source must be Internet (public exposure) or VirtualNetwork (internal)."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
