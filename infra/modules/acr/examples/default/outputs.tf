output "login_server" {
  description = "Registry host for image names."
  value       = module.acr.login_server
}
