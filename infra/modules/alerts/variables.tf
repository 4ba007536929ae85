variable "name" {
  description = "Name the action group and workbook are derived from, e.g. orderdesk-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,58}[a-zA-Z0-9]$", var.name))
    error_message = "name must be 2-60 letters, digits and dashes, starting and ending with a letter or digit."
  }
}

variable "short_name" {
  description = "The action group's short name (shown in SMS and e-mail), 1-12 characters, e.g. od-dev."
  type        = string

  validation {
    # Azure Monitor's groupShortName allows at most 12 characters.
    condition     = length(var.short_name) >= 1 && length(var.short_name) <= 12
    error_message = "short_name must be 1 to 12 characters."
  }
}

variable "location" {
  description = "Azure region of the workbook, e.g. westeurope (action groups and metric alerts are global)."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the action group, the alert rules and the workbook."
  type        = string
}

variable "cluster_id" {
  description = "ID of the AKS cluster the alerts watch and the workbook charts."
  type        = string

  validation {
    condition     = can(regex("(?i)/providers/Microsoft\\.ContainerService/managedClusters/[^/]+$", var.cluster_id))
    error_message = "cluster_id must be the ID of an AKS cluster (…/providers/Microsoft.ContainerService/managedClusters/<name>)."
  }
}

variable "runbook_url" {
  description = "URL of monitoring/runbooks.md; each alert's description links to its section (#<alert name in lower case>)."
  type        = string

  validation {
    condition     = can(regex("^https://\\S+$", var.runbook_url)) && !strcontains(var.runbook_url, "#")
    error_message = "runbook_url must be an https URL without an anchor; the alerts add their own."
  }
}

variable "alerts" {
  description = "Threshold, evaluation window (ISO 8601) and severity (0 critical to 4 verbose) per alert; anything left out takes the default shown."
  type = object({
    node_cpu = optional(object({
      threshold = optional(number, 80)
      window    = optional(string, "PT5M")
      severity  = optional(number, 2)
    }), {})
    node_memory = optional(object({
      threshold = optional(number, 80)
      window    = optional(string, "PT5M")
      severity  = optional(number, 2)
    }), {})
    # Azure offers no 10-minute window: 15 minutes is the shortest that covers "pending for 10 minutes".
    pods_failed_or_pending = optional(object({
      threshold = optional(number, 0)
      window    = optional(string, "PT15M")
      severity  = optional(number, 2)
    }), {})
  })
  default  = {}
  nullable = false

  validation {
    # The windows a metric alert accepts at the one-minute frequency used here.
    condition     = alltrue([for alert in values(var.alerts) : contains(["PT5M", "PT15M", "PT30M", "PT1H"], alert.window)])
    error_message = "Each alert's window must be one of PT5M, PT15M, PT30M or PT1H: Azure metric alerts offer no other window above the 1-minute evaluation frequency."
  }

  validation {
    condition     = alltrue([for alert in values(var.alerts) : contains([0, 1, 2, 3, 4], alert.severity)])
    error_message = "Each alert's severity must be 0 (critical), 1 (error), 2 (warning), 3 (informational) or 4 (verbose)."
  }

  validation {
    condition     = var.alerts.node_cpu.threshold > 0 && var.alerts.node_cpu.threshold < 100 && var.alerts.node_memory.threshold > 0 && var.alerts.node_memory.threshold < 100
    error_message = "The node CPU and memory thresholds are percentages: give a value between 0 and 100."
  }

  validation {
    condition     = var.alerts.pods_failed_or_pending.threshold >= 0 && floor(var.alerts.pods_failed_or_pending.threshold) == var.alerts.pods_failed_or_pending.threshold
    error_message = "The pods_failed_or_pending threshold is a pod count: give a whole number of at least 0."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
