variable "name" {
  description = "Name of the AKS cluster, e.g. aks-orderdesk-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9]$", var.name))
    error_message = "name must be 2-63 letters, digits, '_' or '-', starting and ending with a letter or digit."
  }
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the cluster."
  type        = string
}

variable "tenant_id" {
  description = "Entra ID tenant whose users and groups are authorised through Azure RBAC for Kubernetes."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", var.tenant_id))
    error_message = "tenant_id must be a lowercase GUID."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor (1.36) or patch (1.36.2) version; AKS supports roughly the three newest minors."
  type        = string

  validation {
    # The minors of AKS_STANDARD_SUPPORT_ENDS in ops/envconfig.py, which also refuses a minor past
    # its end of standard support on the plan's day (Terraform has no clock to inject in tests).
    condition     = can(regex("^1\\.(3[3-7])(\\.\\d+)?$", var.kubernetes_version))
    error_message = "kubernetes_version must be 1.33 to 1.37 (optionally with a patch, e.g. 1.36.2), the minors of the AKS release calendar."
  }
}

variable "node_subnet_id" {
  description = "Subnet for nodes and pods (Azure CNI gives every pod an address in it)."
  type        = string
}

variable "app_gateway_id" {
  description = "Application gateway the ingress add-on (AGIC) programs."
  type        = string
}

variable "node_pool" {
  description = "The autoscaling node pool: VM size, node count bounds and availability zones."
  type = object({
    vm_size   = string
    min_count = number
    max_count = number
    zones     = optional(list(string), [])
  })

  validation {
    condition     = can(regex("^Standard_[A-Za-z0-9_]+$", var.node_pool.vm_size))
    error_message = "node_pool.vm_size must be an Azure VM size such as Standard_D2s_v5."
  }

  validation {
    condition     = var.node_pool.min_count >= 1 && var.node_pool.max_count <= 1000 && var.node_pool.min_count <= var.node_pool.max_count
    error_message = "node_pool needs 1 <= min_count <= max_count <= 1000."
  }

  validation {
    condition     = alltrue([for zone in var.node_pool.zones : contains(["1", "2", "3"], zone)])
    error_message = "node_pool.zones may only list \"1\", \"2\" and \"3\"."
  }
}

variable "private_cluster_enabled" {
  description = "Expose the API server only on a private IP inside the VNet."
  type        = bool
  default     = true
}

variable "authorized_ip_ranges" {
  description = "CIDRs allowed to reach a public API server. A private API server has no public endpoint, so leave this empty when private_cluster_enabled is true."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for cidr in var.authorized_ip_ranges : can(cidrhost(cidr, 0))])
    error_message = "authorized_ip_ranges must be CIDRs such as 203.0.113.0/24."
  }

  validation {
    condition     = !contains(var.authorized_ip_ranges, "0.0.0.0/0")
    error_message = "authorized_ip_ranges must not contain 0.0.0.0/0; list the operators' networks."
  }

  validation {
    condition     = !(var.private_cluster_enabled && length(var.authorized_ip_ranges) > 0)
    error_message = "authorized_ip_ranges only apply to a public API server: remove them, or set private_cluster_enabled = false."
  }

  validation {
    condition     = var.private_cluster_enabled || length(var.authorized_ip_ranges) > 0
    error_message = "A public API server needs authorized_ip_ranges (the operators' networks)."
  }
}

variable "admin_group_object_ids" {
  description = "Entra ID groups given cluster-admin through Azure RBAC (local accounts are off, so these and the identities granted an AKS RBAC role are the only way in)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for id in var.admin_group_object_ids : can(regex("^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", id))])
    error_message = "admin_group_object_ids must be lowercase GUIDs (Entra ID group object ids)."
  }
}

variable "role_propagation_wait" {
  description = "How long to wait after the control plane's role assignments before creating the cluster (Azure role assignments take minutes to propagate)."
  type        = string
  default     = "120s"

  validation {
    condition     = can(regex("^[0-9]+[sm]$", var.role_propagation_wait))
    error_message = "role_propagation_wait must be a duration such as 120s or 2m."
  }
}

variable "sku_tier" {
  description = "AKS control plane tier: Free, Standard (uptime SLA) or Premium."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Free", "Standard", "Premium"], var.sku_tier)
    error_message = "sku_tier must be Free, Standard or Premium."
  }
}

variable "max_pods" {
  description = "Pods per node. Azure CNI reserves max_pods + 1 subnet addresses per node."
  type        = number
  default     = 50

  validation {
    condition     = var.max_pods >= 30 && var.max_pods <= 250
    error_message = "max_pods must be between 30 and 250."
  }
}

variable "service_cidr" {
  description = "Kubernetes service range, from the network module's address plan (output service_cidr), which keeps it outside the VNet."
  type        = string

  validation {
    condition     = can(cidrhost(var.service_cidr, 10))
    error_message = "service_cidr must be an IPv4 CIDR with room for the cluster DNS address (.10), e.g. the network module's service_cidr output."
  }
}

variable "secret_rotation_interval" {
  description = "How often the Key Vault secrets provider polls for new secret versions (e.g. 2m)."
  type        = string
  default     = "2m"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.secret_rotation_interval))
    error_message = "secret_rotation_interval must be a duration such as 2m, 90s or 1h."
  }
}

variable "log_retention_days" {
  description = "Days the Log Analytics workspace keeps the cluster's logs."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days must be between 30 and 730."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
