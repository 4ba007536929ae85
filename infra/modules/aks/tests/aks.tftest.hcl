mock_provider "azurerm" {}

# The ingress add-on's identity is created by AKS (computed); give the plan a value for it.
override_resource {
  target          = azurerm_kubernetes_cluster.this
  override_during = plan
  values = {
    ingress_application_gateway = {
      ingress_application_gateway_identity = [{
        client_id                 = "33333333-0000-0000-0000-000000000001"
        object_id                 = "33333333-0000-0000-0000-000000000002"
        user_assigned_identity_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ingressapplicationgateway"
      }]
    }
  }
}

variables {
  name                = "aks-orderdesk-test"
  location            = "westeurope"
  resource_group_name = "rg-orderdesk-test"
  tenant_id           = "11111111-2222-3333-4444-555555555555"
  kubernetes_version  = "1.36"
  node_subnet_id      = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-aks"
  app_gateway_id      = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.Network/applicationGateways/agw"
  service_cidr        = "172.16.0.0/16"
  node_pool = {
    vm_size   = "Standard_D2s_v5"
    min_count = 2
    max_count = 4
    zones     = ["1", "2", "3"]
  }
  tags = { environment = "test" }
}

run "cluster_is_private_by_default" {
  command = plan

  assert {
    condition     = azurerm_kubernetes_cluster.this.private_cluster_enabled == true
    error_message = "The API server must be private unless asked otherwise."
  }
  assert {
    condition     = length(azurerm_kubernetes_cluster.this.api_server_access_profile) == 0
    error_message = "A private cluster has no public endpoint to restrict."
  }
}

run "public_cluster_is_limited_to_authorized_ranges" {
  command = plan

  variables {
    private_cluster_enabled = false
    authorized_ip_ranges    = ["203.0.113.0/24"]
  }

  assert {
    condition     = azurerm_kubernetes_cluster.this.private_cluster_enabled == false
    error_message = "private_cluster_enabled = false must give a public API server."
  }
  assert {
    condition     = azurerm_kubernetes_cluster.this.api_server_access_profile[0].authorized_ip_ranges == toset(["203.0.113.0/24"])
    error_message = "A public API server must accept only the authorized ranges."
  }
}

run "node_pool_autoscales_within_the_bounds" {
  command = plan

  assert {
    condition = (
      azurerm_kubernetes_cluster.this.default_node_pool[0].auto_scaling_enabled &&
      azurerm_kubernetes_cluster.this.default_node_pool[0].min_count == 2 &&
      azurerm_kubernetes_cluster.this.default_node_pool[0].max_count == 4
    )
    error_message = "The node pool must autoscale between min_count and max_count."
  }
  assert {
    condition     = azurerm_kubernetes_cluster.this.default_node_pool[0].vnet_subnet_id == var.node_subnet_id
    error_message = "Nodes must live in the given subnet."
  }
}

# Support for Azure Network Policy Manager on Linux nodes ends: "migrate ... from NPM to Cilium
# Network Policy" (learn.microsoft.com/azure/aks/use-network-policies). azurerm 5.2 takes
# network_data_plane = "cilium" and network_policy = "cilium" (internal/services/containers/
# kubernetes_cluster_resource.go), and Cilium runs on the node subnet
# (learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium, "Assign IP addresses from the Node Subnet").
run "uses_azure_cni_powered_by_cilium_for_network_policy" {
  command = plan

  assert {
    condition     = azurerm_kubernetes_cluster.this.network_profile[0].network_plugin == "azure" && azurerm_kubernetes_cluster.this.network_profile[0].network_data_plane == "cilium" && azurerm_kubernetes_cluster.this.network_profile[0].network_policy == "cilium"
    error_message = "The cluster must use Azure CNI powered by Cilium, which enforces network policies (not the retiring Azure NPM)."
  }
  assert {
    condition     = azurerm_kubernetes_cluster.this.network_profile[0].dns_service_ip == "172.16.0.10"
    error_message = "The DNS service IP must be inside the service CIDR."
  }
}

run "workload_identity_and_oidc_issuer_are_on" {
  command = plan

  assert {
    condition     = azurerm_kubernetes_cluster.this.oidc_issuer_enabled && azurerm_kubernetes_cluster.this.workload_identity_enabled
    error_message = "Workload identity needs both the OIDC issuer and the workload identity webhook."
  }
}

run "key_vault_secrets_provider_rotates_secrets" {
  command = plan

  assert {
    condition     = azurerm_kubernetes_cluster.this.key_vault_secrets_provider[0].secret_rotation_enabled && azurerm_kubernetes_cluster.this.key_vault_secrets_provider[0].secret_rotation_interval == "2m"
    error_message = "The Key Vault secrets provider must rotate secrets."
  }
}

run "ingress_add_on_programs_the_given_gateway" {
  command = plan

  assert {
    condition     = azurerm_kubernetes_cluster.this.ingress_application_gateway[0].gateway_id == var.app_gateway_id
    error_message = "The ingress add-on must use the Terraform-managed application gateway."
  }
}

run "control_plane_uses_a_managed_identity_with_rights_on_its_subnet" {
  command = plan

  assert {
    condition     = azurerm_kubernetes_cluster.this.identity[0].type == "UserAssigned"
    error_message = "The control plane must use the user-assigned identity."
  }
  assert {
    condition     = azurerm_role_assignment.control_plane_subnet.scope == var.node_subnet_id && azurerm_role_assignment.control_plane_subnet.role_definition_name == "Network Contributor"
    error_message = "The control plane identity needs Network Contributor on the node subnet, and only there."
  }
}

run "kubelet_uses_our_identity_handed_over_by_the_control_plane" {
  command = plan

  assert {
    condition     = azurerm_role_assignment.control_plane_kubelet_operator.role_definition_name == "Managed Identity Operator"
    error_message = "The control plane needs Managed Identity Operator on the kubelet identity."
  }
  assert {
    condition     = output.ingress_identity_object_id == "33333333-0000-0000-0000-000000000002"
    error_message = "The ingress add-on's identity must be exported for its role assignments."
  }
}

# With local accounts off and Azure RBAC on, only Entra ID principals with an AKS RBAC role or in
# admin_group_object_ids can use kubectl (learn.microsoft.com/azure/aks/manage-azure-rbac).
run "admin_groups_are_cluster_admins" {
  command = plan

  variables {
    admin_group_object_ids = ["44444444-3333-2222-1111-000000000000"]
  }

  assert {
    condition     = azurerm_kubernetes_cluster.this.azure_active_directory_role_based_access_control[0].admin_group_object_ids == tolist(["44444444-3333-2222-1111-000000000000"])
    error_message = "The operators' groups from env.yaml must be the cluster's admin groups."
  }
}

run "rejects_an_admin_group_that_is_not_an_object_id" {
  command = plan

  variables {
    admin_group_object_ids = ["operators"]
  }
  expect_failures = [var.admin_group_object_ids]
}

# Azure RBAC changes can take minutes to take effect
# (learn.microsoft.com/azure/role-based-access-control/troubleshooting); AKS checks the control
# plane's rights on the subnet and kubelet identity when it creates the cluster.
run "cluster_waits_for_the_control_planes_roles_to_propagate" {
  command = plan

  assert {
    condition     = time_sleep.role_propagation.create_duration == "120s"
    error_message = "The cluster must wait, bounded, for its identity's role assignments."
  }
}

run "rejects_an_unbounded_propagation_wait" {
  command = plan

  variables {
    role_propagation_wait = "1h"
  }
  expect_failures = [var.role_propagation_wait]
}

run "local_accounts_are_disabled_in_favour_of_entra_id" {
  command = plan

  assert {
    condition     = azurerm_kubernetes_cluster.this.local_account_disabled && azurerm_kubernetes_cluster.this.azure_active_directory_role_based_access_control[0].azure_rbac_enabled
    error_message = "Access must go through Entra ID and Azure RBAC, with no local admin account."
  }
}

run "nodes_have_no_public_ips_and_encrypt_at_host" {
  command = plan

  assert {
    condition     = !azurerm_kubernetes_cluster.this.default_node_pool[0].node_public_ip_enabled && azurerm_kubernetes_cluster.this.default_node_pool[0].host_encryption_enabled
    error_message = "Nodes must have no public IPs and must encrypt at host."
  }
}

run "rejects_a_kubernetes_version_below_the_supported_range" {
  command = plan

  variables {
    kubernetes_version = "1.29"
  }
  expect_failures = [var.kubernetes_version]
}

run "rejects_a_kubernetes_version_above_the_supported_range" {
  command = plan

  variables {
    kubernetes_version = "1.40.1"
  }
  expect_failures = [var.kubernetes_version]
}

run "rejects_a_bad_cluster_name" {
  command = plan

  variables {
    name = "aks_"
  }
  expect_failures = [var.name]
}

run "rejects_a_tenant_that_is_not_a_guid" {
  command = plan

  variables {
    tenant_id = "contoso.onmicrosoft.com"
  }
  expect_failures = [var.tenant_id]
}

run "rejects_a_bad_vm_size" {
  command = plan

  variables {
    node_pool = { vm_size = "D2s_v5", min_count = 1, max_count = 2 }
  }
  expect_failures = [var.node_pool]
}

run "rejects_min_count_above_max_count" {
  command = plan

  variables {
    node_pool = { vm_size = "Standard_D2s_v5", min_count = 5, max_count = 2 }
  }
  expect_failures = [var.node_pool]
}

run "rejects_an_unknown_zone" {
  command = plan

  variables {
    node_pool = { vm_size = "Standard_D2s_v5", min_count = 1, max_count = 2, zones = ["4"] }
  }
  expect_failures = [var.node_pool]
}

run "rejects_an_authorized_range_that_is_not_a_cidr" {
  command = plan

  variables {
    private_cluster_enabled = false
    authorized_ip_ranges    = ["203.0.113.1"]
  }
  expect_failures = [var.authorized_ip_ranges]
}

run "rejects_the_whole_internet_as_an_authorized_range" {
  command = plan

  variables {
    private_cluster_enabled = false
    authorized_ip_ranges    = ["0.0.0.0/0"]
  }
  expect_failures = [var.authorized_ip_ranges]
}

run "rejects_authorized_ranges_on_a_private_cluster" {
  command = plan

  variables {
    authorized_ip_ranges = ["203.0.113.0/24"]
  }
  expect_failures = [var.authorized_ip_ranges]
}

run "rejects_a_public_cluster_without_authorized_ranges" {
  command = plan

  variables {
    private_cluster_enabled = false
  }
  expect_failures = [var.authorized_ip_ranges]
}

run "rejects_an_unknown_sku_tier" {
  command = plan

  variables {
    sku_tier = "Basic"
  }
  expect_failures = [var.sku_tier]
}

run "rejects_max_pods_out_of_range" {
  command = plan

  variables {
    max_pods = 10
  }
  expect_failures = [var.max_pods]
}

run "rejects_a_bad_service_cidr" {
  command = plan

  variables {
    service_cidr = "172.16.0.0"
  }
  expect_failures = [var.service_cidr]
}

run "rejects_a_bad_rotation_interval" {
  command = plan

  variables {
    secret_rotation_interval = "two minutes" # pragma: allowlist secret
  }
  expect_failures = [var.secret_rotation_interval]
}

run "rejects_log_retention_out_of_range" {
  command = plan

  variables {
    log_retention_days = 7
  }
  expect_failures = [var.log_retention_days]
}
