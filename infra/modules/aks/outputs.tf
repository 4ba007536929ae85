output "id" {
  description = "ID of the cluster."
  value       = azurerm_kubernetes_cluster.this.id
}

output "name" {
  description = "Name of the cluster (for az aks get-credentials)."
  value       = azurerm_kubernetes_cluster.this.name
}

output "node_resource_group" {
  description = "Resource group AKS manages for nodes and load balancers."
  value       = azurerm_kubernetes_cluster.this.node_resource_group
}

output "oidc_issuer_url" {
  description = "OIDC issuer that workload identity federated credentials trust."
  value       = azurerm_kubernetes_cluster.this.oidc_issuer_url
}

output "kubelet_identity_object_id" {
  description = "Object ID of the kubelet identity (granted AcrPull on the registry)."
  value       = azurerm_user_assigned_identity.kubelet.principal_id
}

output "ingress_identity_object_id" {
  description = "Object ID of the application gateway ingress add-on's identity (needs rights on the gateway)."
  value       = azurerm_kubernetes_cluster.this.ingress_application_gateway[0].ingress_application_gateway_identity[0].object_id
}

output "log_analytics_workspace_id" {
  description = "Log Analytics workspace of the cluster; other modules send their logs here too."
  value       = azurerm_log_analytics_workspace.this.id
}

output "private_cluster" {
  description = "Whether the API server has only a private endpoint."
  value       = azurerm_kubernetes_cluster.this.private_cluster_enabled
}

output "authorized_ip_ranges" {
  description = "CIDRs a public API server admits; empty for a private one."
  value       = var.private_cluster_enabled ? [] : tolist(azurerm_kubernetes_cluster.this.api_server_access_profile[0].authorized_ip_ranges)
}
