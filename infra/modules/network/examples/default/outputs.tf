output "subnet_ids" {
  description = "Subnet IDs by role."
  value       = module.network.subnet_ids
}
