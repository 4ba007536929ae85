output "virtual_network_id" {
  description = "ID of the virtual network (private DNS zones link to it)."
  value       = azurerm_virtual_network.this.id
}

output "virtual_network_name" {
  description = "Name of the virtual network."
  value       = azurerm_virtual_network.this.name
}

output "subnet_ids" {
  description = "Subnet IDs by role: aks, appgw, private_endpoints, database (and runners when given)."
  value       = { for role, subnet in azurerm_subnet.this : role => subnet.id }
}

output "network_security_group_ids" {
  description = "NSG IDs by the subnet role they protect."
  value       = { for role, nsg in azurerm_network_security_group.this : role => nsg.id }
}

output "service_cidr" {
  description = "The Kubernetes service range of the address plan, checked against the VNet (the aks module's service_cidr)."
  value       = var.service_cidr
}

output "runners_egress_ip" {
  description = "Public address the self-hosted runner's traffic leaves from (null without a runners subnet)."
  value       = one(azurerm_public_ip.runners[*].ip_address)
}

output "inbound_rule_names" {
  description = "Subnet role -> the names of the inbound rules on its NSG (a reviewer's and a test's view)."
  value       = { for role, rules in local.inbound_rules : role => sort(keys(rules)) }
}
