# The control plane's own identity: with a bring-your-own subnet it must hold Network Contributor
# on that subnet before the cluster is created, which a system-assigned identity cannot.
resource "azurerm_user_assigned_identity" "control_plane" {
  name                = "id-${var.name}"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_role_assignment" "control_plane_subnet" {
  scope                = var.node_subnet_id
  role_definition_name = "Network Contributor"
  principal_id         = azurerm_user_assigned_identity.control_plane.principal_id
  principal_type       = "ServicePrincipal"
}

# The kubelet's identity is ours too, so it can be granted AcrPull before the first node pulls an
# image; the control plane needs Managed Identity Operator on it to hand it to the nodes.
resource "azurerm_user_assigned_identity" "kubelet" {
  name                = "id-${var.name}-kubelet"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_role_assignment" "control_plane_kubelet_operator" {
  scope                = azurerm_user_assigned_identity.kubelet.id
  role_definition_name = "Managed Identity Operator"
  principal_id         = azurerm_user_assigned_identity.control_plane.principal_id
  principal_type       = "ServicePrincipal"
}

# AKS checks the control plane's rights on the subnet and the kubelet identity when it creates
# the cluster; role assignments take minutes to propagate, so a first apply that creates the
# cluster right after them fails. Bounded wait, once.
resource "time_sleep" "role_propagation" {
  create_duration = var.role_propagation_wait

  triggers = {
    subnet           = azurerm_role_assignment.control_plane_subnet.id
    kubelet_operator = azurerm_role_assignment.control_plane_kubelet_operator.id
  }
}

resource "azurerm_log_analytics_workspace" "this" {
  name                = "log-${var.name}"
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_kubernetes_cluster" "this" {
  # checkov:skip=CKV_AZURE_226: The Dsv5 sizes in env.yaml have no local disk to hold an ephemeral OS disk.
  # checkov:skip=CKV_AZURE_117: Disks use platform-managed keys; customer-managed keys need a key lifecycle this reference does not run.
  # checkov:skip=CKV_AZURE_232: One autoscaling pool runs system and app pods; a dedicated system pool would double the minimum node count of a small app.
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  dns_prefix          = var.name
  kubernetes_version  = var.kubernetes_version
  sku_tier            = var.sku_tier
  tags                = var.tags

  private_cluster_enabled = var.private_cluster_enabled
  # AKS creates and links the private zone for the API server.
  private_dns_zone_id = var.private_cluster_enabled ? "System" : null

  dynamic "api_server_access_profile" {
    for_each = var.private_cluster_enabled ? [] : [1]
    content {
      authorized_ip_ranges = var.authorized_ip_ranges
    }
  }

  # Patch upgrades and node images follow AKS automatically; minors change only through env.yaml.
  automatic_upgrade_channel = "patch"
  node_os_upgrade_channel   = "NodeImage"

  # Who may do what is decided by Entra ID + Azure RBAC; no static admin kubeconfig exists.
  local_account_disabled            = true
  role_based_access_control_enabled = true
  azure_active_directory_role_based_access_control {
    tenant_id              = var.tenant_id
    azure_rbac_enabled     = true
    admin_group_object_ids = var.admin_group_object_ids
  }

  oidc_issuer_enabled       = true
  workload_identity_enabled = true
  azure_policy_enabled      = true

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.control_plane.id]
  }

  kubelet_identity {
    client_id                 = azurerm_user_assigned_identity.kubelet.client_id
    object_id                 = azurerm_user_assigned_identity.kubelet.principal_id
    user_assigned_identity_id = azurerm_user_assigned_identity.kubelet.id
  }

  # azurerm 5 requires the block; Manual keeps node pools as declared here (no node auto-provisioning).
  node_provisioning_profile {
    mode = "Manual"
  }

  default_node_pool {
    name                        = "system"
    temporary_name_for_rotation = "rotation"
    vm_size                     = var.node_pool.vm_size
    auto_scaling_enabled        = true
    min_count                   = var.node_pool.min_count
    max_count                   = var.node_pool.max_count
    zones                       = var.node_pool.zones
    max_pods                    = var.max_pods
    vnet_subnet_id              = var.node_subnet_id
    host_encryption_enabled     = true
    node_public_ip_enabled      = false
    os_sku                      = "AzureLinux"
    tags                        = var.tags

    upgrade_settings {
      max_surge = "33%"
    }
  }

  # Azure CNI powered by Cilium: Cilium's eBPF data plane enforces NetworkPolicy, replacing the
  # Azure Network Policy Manager. Pods keep their addresses from the node subnet, which the
  # gateway reaches directly. (AGIC supports Azure CNI Overlay too since August 2025: Microsoft's
  # "General Availability: Azure CNI Overlay for Application Gateway for Containers and AGIC".)
  network_profile {
    network_plugin     = "azure"
    network_data_plane = "cilium"
    network_policy     = "cilium"
    load_balancer_sku  = "standard"
    outbound_type      = "loadBalancer"
    service_cidr       = var.service_cidr
    dns_service_ip     = cidrhost(var.service_cidr, 10)
  }

  key_vault_secrets_provider {
    secret_rotation_enabled  = true
    secret_rotation_interval = var.secret_rotation_interval
  }

  ingress_application_gateway {
    gateway_id = var.app_gateway_id
  }

  oms_agent {
    log_analytics_workspace_id      = azurerm_log_analytics_workspace.this.id
    msi_auth_for_monitoring_enabled = true
  }

  depends_on = [time_sleep.role_propagation]
}
