variable "kind" {
  description = "Database engine: postgresql (Azure Database for PostgreSQL flexible server) or mssql (Azure SQL Database)."
  type        = string
  default     = "postgresql"

  validation {
    condition     = contains(["postgresql", "mssql"], var.kind)
    error_message = "kind must be postgresql or mssql."
  }
}

variable "name" {
  description = "Server name, globally unique: 3-63 lowercase letters, digits and dashes."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be 3-63 lowercase letters, digits and dashes, not starting or ending with a dash."
  }
}

variable "location" {
  description = "Azure region, e.g. westeurope."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the server."
  type        = string
}

variable "tenant_id" {
  description = "Entra ID tenant for Entra ID authentication to the server."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", var.tenant_id))
    error_message = "tenant_id must be a lowercase GUID."
  }
}

variable "sku" {
  description = "Compute SKU: for postgresql tier_name such as B_Standard_B1ms or GP_Standard_D2ds_v5; for mssql such as S0 or GP_S_Gen5_2."
  type        = string

  validation {
    condition     = var.kind != "postgresql" || can(regex("^(B|GP|MO)_Standard_[A-Za-z0-9_]+$", var.sku))
    error_message = "A postgresql sku is <tier>_Standard_<size>, e.g. B_Standard_B1ms or GP_Standard_D2ds_v5."
  }
}

variable "storage_mb" {
  description = "Storage size in MB (postgresql: 32768 and up; mssql: the database's maximum size)."
  type        = number
  default     = 32768

  validation {
    condition     = var.storage_mb >= 32768 && var.storage_mb <= 33553408
    error_message = "storage_mb must be between 32768 (32 GiB) and 33553408 (32 TiB)."
  }
}

variable "backup_retention_days" {
  description = "Days of point-in-time-restore backups."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "geo_redundant_backup_enabled" {
  description = "Copy backups to the paired region (postgresql; cannot be changed after creation)."
  type        = bool
  default     = true
}

variable "high_availability" {
  description = "Run a zone-redundant standby (postgresql General Purpose or Memory Optimized only)."
  type        = bool
  default     = false

  validation {
    condition     = !var.high_availability || var.kind != "postgresql" || !startswith(var.sku, "B_")
    error_message = "high_availability needs a General Purpose or Memory Optimized sku; Burstable (B_) servers have no standby."
  }
}

variable "postgresql_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"

  validation {
    condition     = contains(["14", "15", "16", "17"], var.postgresql_version)
    error_message = "postgresql_version must be 14, 15, 16 or 17."
  }
}

variable "database_name" {
  description = "Name of the app's database on the server."
  type        = string
  default     = "orderdesk"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must start with a lowercase letter and use only lowercase letters, digits and '_'."
  }
}

variable "administrator_login" {
  description = "Administrator user name (not admin, root, sa, ...)."
  type        = string
  default     = "orderdesk_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{2,62}$", var.administrator_login)) && !contains(["admin", "administrator", "root", "sa", "guest", "public", "azure_superuser", "azure_pg_admin"], var.administrator_login)
    error_message = "administrator_login must be 3-63 lowercase letters, digits or '_', and not a reserved name such as admin, root or sa."
  }
}

variable "administrator_password" {
  description = "Administrator password. Ephemeral: sent to Azure once per administrator_password_version, never stored in plan or state."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.administrator_password) >= 16 && length(var.administrator_password) <= 128
    error_message = "administrator_password must be 16 to 128 characters."
  }
}

variable "administrator_password_version" {
  description = "Bump to send a new administrator_password (rotation)."
  type        = number
  default     = 1
}

variable "delegated_subnet_id" {
  description = "Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers (postgresql)."
  type        = string
  default     = null

  validation {
    condition     = var.kind != "postgresql" || var.delegated_subnet_id != null
    error_message = "A postgresql server lives in a delegated subnet: set delegated_subnet_id."
  }
}

variable "private_endpoint_subnet_id" {
  description = "Subnet for the SQL server's private endpoint (mssql)."
  type        = string
  default     = null

  validation {
    condition     = var.kind != "mssql" || var.private_endpoint_subnet_id != null
    error_message = "An mssql server is reached through a private endpoint: set private_endpoint_subnet_id."
  }
}

variable "log_analytics_workspace_id" {
  description = "Log Analytics workspace that receives the server's logs and audit events."
  type        = string
}

variable "virtual_network_id" {
  description = "VNet the database's private DNS zone is linked to."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
