output "oidc_issuer_url" {
  description = "Issuer that workload identity credentials trust."
  value       = module.aks.oidc_issuer_url
}
