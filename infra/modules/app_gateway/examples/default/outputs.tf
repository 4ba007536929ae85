output "public_ip_address" {
  description = "Where the DNS records point."
  value       = module.app_gateway.public_ip_address
}
