variable "zone_name" {
  description = "Public DNS zone, e.g. dev.orderdesk.example.com. Delegate it by adding the name_servers output at the parent zone."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9-]{2,63}$", var.zone_name))
    error_message = "zone_name must be a lowercase DNS name such as dev.orderdesk.example.com."
  }
}

variable "resource_group_name" {
  description = "Resource group that holds the zone."
  type        = string
}

variable "hosts" {
  description = "Fully qualified host names to point at target_ip: the app's hosts, grafana, prometheus. Each must be the zone itself or inside it."
  type        = set(string)

  validation {
    condition     = length(var.hosts) > 0
    error_message = "hosts must list at least one host name."
  }

  validation {
    condition     = alltrue([for host in var.hosts : host == var.zone_name || endswith(host, ".${var.zone_name}")])
    error_message = "Every host must be zone_name itself or a name inside it (e.g. grafana.<zone_name>)."
  }
}

variable "target_ip" {
  description = "IPv4 address the host records point to: the application gateway's public IP, or its private frontend address when exposure is internal."
  type        = string

  validation {
    condition     = can(cidrhost("${var.target_ip}/32", 0))
    error_message = "target_ip must be an IPv4 address."
  }
}

variable "exposure" {
  description = "public: the hosts' records are in the public zone. internal: in a private zone of the same name linked to virtual_network_id; the public zone keeps no host record."
  type        = string
  default     = "public"
  nullable    = false

  validation {
    condition     = contains(["public", "internal"], var.exposure)
    error_message = "exposure must be public or internal."
  }
}

variable "virtual_network_id" {
  description = "The VNet whose resolvers answer from the private zone (exposure internal only)."
  type        = string
  default     = null

  validation {
    condition     = (var.exposure == "internal") == (var.virtual_network_id != null)
    error_message = "virtual_network_id is needed with exposure internal (the VNet the private zone serves), and only then."
  }
}

variable "ttl" {
  description = "TTL of the records in seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.ttl >= 60 && var.ttl <= 86400
    error_message = "ttl must be between 60 and 86400 seconds."
  }
}

variable "caa_issuers" {
  description = "Certificate authorities allowed to issue for the zone (CAA records)."
  type        = list(string)
  default     = ["letsencrypt.org"]
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
