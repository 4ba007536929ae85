# tflint's bundled Terraform ruleset, every rule. The azurerm ruleset plugin cannot be installed
# offline (it is not on the Go module proxy and `tflint --init` downloads a release binary);
# the real azurerm schema is checked by `terraform validate` against the provider mirror instead.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
