# The root module planned for each environment of env.yaml, against a mocked azurerm.
mock_provider "azurerm" {
  mock_data "azurerm_client_config" {
    defaults = {
      tenant_id = "11111111-2222-3333-4444-555555555555"
      object_id = "99999999-8888-7777-6666-555555555555"
    }
  }

  # A mocked apply fills computed attributes with random strings ("Mocks", Terraform's testing
  # docs; plans leave them unknown), but these ids feed arguments that azurerm and our modules
  # parse as Azure resource IDs (a role assignment's scope, a subnet, a zone link's zone): an
  # apply run gets real-shaped ones.
  mock_resource "azurerm_virtual_network" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Network/virtualNetworks/vnet-orderdesk"
    }
  }
  mock_resource "azurerm_subnet" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Network/virtualNetworks/vnet-orderdesk/subnets/snet-orderdesk"
    }
  }
  mock_resource "azurerm_network_security_group" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Network/networkSecurityGroups/nsg-orderdesk"
    }
  }
  mock_resource "azurerm_private_dns_zone" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Network/privateDnsZones/privatelink.example.azure.net"
    }
  }
  mock_resource "azurerm_user_assigned_identity" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-orderdesk"
    }
  }
  mock_resource "azurerm_key_vault" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.KeyVault/vaults/kv-orderdesk"
    }
  }
  mock_resource "azurerm_container_registry" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.ContainerRegistry/registries/crorderdesk"
    }
  }
  mock_resource "azurerm_web_application_firewall_policy" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Network/applicationGatewayWebApplicationFirewallPolicies/waf-orderdesk"
    }
  }
  mock_resource "azurerm_log_analytics_workspace" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.OperationalInsights/workspaces/log-orderdesk"
    }
  }
  mock_resource "azurerm_application_gateway" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Network/applicationGateways/agw-orderdesk"
    }
  }
  mock_resource "azurerm_postgresql_flexible_server" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-orderdesk"
    }
  }
  mock_resource "azurerm_resource_group" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk"
    }
  }
  mock_resource "azurerm_monitor_action_group" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Insights/actionGroups/ag-orderdesk"
    }
  }
  # The DNS module's A records take the gateway's address, which Azure allocates.
  mock_resource "azurerm_public_ip" {
    defaults = {
      id         = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.Network/publicIPAddresses/pip-orderdesk"
      ip_address = "203.0.113.10"
    }
  }
}

variables {
  teams_webhook_url = "https://example.invalid/workflows/teams-root-test" # pragma: allowlist secret (test value)
}

# The ingress add-on's identity is created by AKS (computed); give the plan a value for it, and an
# ID of the shape Azure gives (the alerts module checks that its scope is an AKS cluster).
override_resource {
  target          = module.aks.azurerm_kubernetes_cluster.this
  override_during = plan
  values = {
    id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk/providers/Microsoft.ContainerService/managedClusters/aks-orderdesk"
    ingress_application_gateway = {
      ingress_application_gateway_identity = [{
        client_id                 = "33333333-0000-0000-0000-000000000001"
        object_id                 = "33333333-0000-0000-0000-000000000002"
        user_assigned_identity_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ingressapplicationgateway"
      }]
    }
  }
}

run "dev_plans_from_env_yaml" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.cluster_name == "aks-orderdesk-dev" && output.resource_group_name == "rg-orderdesk-dev" && output.key_vault_name == "kv-orderdesk-dev"
    error_message = "dev must take its names from env.yaml."
  }
  assert {
    condition     = azurerm_resource_group.this.location == "westeurope"
    error_message = "dev must be built in the region from env.yaml."
  }
  assert {
    condition     = output.cluster_private == false
    error_message = "dev's API server is public (limited to authorized_ip_ranges), as env.yaml says."
  }
}

run "prod_plans_from_env_yaml" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = output.cluster_name == "aks-orderdesk-prod" && output.database_name == "orderdesk"
    error_message = "prod must take its names from env.yaml."
  }
  assert {
    condition     = output.cluster_private == true
    error_message = "prod's API server must be private."
  }
}

run "every_resource_group_member_is_tagged_with_its_environment" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = azurerm_resource_group.this.tags["environment"] == "prod" && azurerm_user_assigned_identity.app.tags["environment"] == "prod"
    error_message = "Resources must carry the environment tag."
  }
}

run "kubelet_may_pull_from_the_registry" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = azurerm_role_assignment.kubelet_acr_pull.role_definition_name == "AcrPull"
    error_message = "The kubelet identity needs AcrPull on the registry."
  }
}

run "app_identity_reads_key_vault_secrets_through_workload_identity" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = azurerm_role_assignment.app_key_vault_secrets_user.role_definition_name == "Key Vault Secrets User"
    error_message = "The app's identity needs Key Vault Secrets User, and nothing more."
  }
  assert {
    condition     = azurerm_federated_identity_credential.app.subject == "system:serviceaccount:orderdesk:orderdesk" && output.workload_identity_service_account == "orderdesk/orderdesk"
    error_message = "Only the app's service account may act as the app's identity."
  }
}

run "app_secrets_are_generated_into_key_vault" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.key_vault_secret_names == tolist(["card-fingerprint-key", "database-password", "django-secret-key", "teams-webhook-url"])
    error_message = "The vault must hold the generated Django key, card key and database password, and the Teams URL."
  }
  assert {
    condition     = sort(keys(module.key_vault.secret_versions)) == tolist(["card-fingerprint-key", "database-password", "django-secret-key", "teams-webhook-url"])
    error_message = "Each secret must be written on its own version, from env.yaml's key_vault.secret_versions."
  }
}

run "rejects_an_unknown_environment" {
  command = plan

  variables {
    environment = "staging"
  }
  expect_failures = [var.environment]
}

run "rejects_an_environment_without_an_azure_block" {
  command = plan

  variables {
    environment = "local"
  }
  expect_failures = [var.environment]
}

run "dev_alarms_keep_the_modules_defaults" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition = output.azure_monitor_alarms == {
      OrderdeskNodeCpuHigh         = { threshold = 80, window = "PT5M", severity = 2 }
      OrderdeskNodeMemoryHigh      = { threshold = 80, window = "PT5M", severity = 2 }
      OrderdeskPodsFailedOrPending = { threshold = 0, window = "PT15M", severity = 2 }
    }
    error_message = "dev sets no alerts in env.yaml: every alarm must keep the module's defaults."
  }
}

run "prod_alarms_take_their_severities_from_env_yaml" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = output.azure_monitor_alarms["OrderdeskNodeMemoryHigh"].severity == 1 && output.azure_monitor_alarms["OrderdeskPodsFailedOrPending"].severity == 1
    error_message = "prod's env.yaml raises node memory and pods to severity 1."
  }
  assert {
    condition     = output.azure_monitor_alarms["OrderdeskNodeCpuHigh"].severity == 2 && output.azure_monitor_alarms["OrderdeskNodeMemoryHigh"].threshold == 80
    error_message = "Keys prod leaves out keep the module's defaults."
  }
}

run "rejects_a_missing_teams_url" {
  command = plan

  variables {
    environment       = "dev"
    teams_webhook_url = null
  }
  expect_failures = [var.teams_webhook_url]
}

run "rejects_a_teams_url_without_https" {
  command = plan

  variables {
    environment       = "dev"
    teams_webhook_url = "http://example.invalid/workflows/plain-http" # pragma: allowlist secret (test value)
  }
  expect_failures = [var.teams_webhook_url]
}

# --- who and what reaches the estate (issue 14) --------------------------------------------------

# The registry has no bypass: the job that pushes must come from an admitted range or the VNet
# (learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks).
run "dev_registry_vault_and_api_server_admit_the_ci_runners" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = module.acr.allowed_ip_ranges == ["198.51.100.0/28"]
    error_message = "dev's registry must admit the runners' egress range (env.yaml runners.ip_ranges), and only it."
  }
  assert {
    condition     = toset(module.key_vault.allowed_ip_ranges) == toset(["203.0.113.0/24", "198.51.100.0/28"])
    error_message = "dev's vault must admit the operators' and the runners' ranges: apply writes the secrets, the secrets stage reads them."
  }
  assert {
    condition     = toset(module.aks.authorized_ip_ranges) == toset(["203.0.113.0/24", "198.51.100.0/28"])
    error_message = "dev's public API server must admit the runners that run kubectl, not only the operators."
  }
}

run "prod_is_reached_only_from_the_runner_inside_the_vnet" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = contains(keys(module.network.subnet_ids), "runners") && length(module.aks.authorized_ip_ranges) == 0
    error_message = "prod's jobs run on the self-hosted runner in the runners subnet; nothing is admitted from the internet."
  }
  assert {
    condition     = length(module.acr.allowed_ip_ranges) == 0 && length(module.key_vault.allowed_ip_ranges) == 0
    error_message = "prod's registry and vault admit no public range."
  }
}

# The workflows plan with a read-only identity and apply with the deploy identity
# (.github/workflows/README.md): the vault's writer role goes to the one that applies.
run "the_deploy_identity_writes_the_vault_and_the_plan_identity_reads_it" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = one(module.key_vault.data_plane_roles["Key Vault Secrets Officer"]) == "00000000-0000-0000-0000-000000000001" && one(module.key_vault.data_plane_roles["Key Vault Secrets User"]) == "00000000-0000-0000-0000-000000000002"
    error_message = "Secrets Officer goes to env.yaml's deploy identity, read access to its plan identity."
  }
}

# Local accounts off + Azure RBAC: without an AKS RBAC role nobody can kubectl apply
# (learn.microsoft.com/azure/aks/manage-azure-rbac). azurerm refreshes the cluster with
# ListClusterUserCredentials (internal/services/containers/kubernetes_cluster_resource.go).
run "the_deploy_identity_may_apply_to_the_cluster_and_the_plan_identity_refresh_it" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = azurerm_role_assignment.deployer_cluster_admin.role_definition_name == "Azure Kubernetes Service RBAC Cluster Admin" && azurerm_role_assignment.deployer_cluster_admin.principal_id == "00000000-0000-0000-0000-000000000001"
    error_message = "The deploy identity needs a cluster role to kubectl apply (local accounts are off)."
  }
  assert {
    condition     = azurerm_role_assignment.deployer_cluster_user.principal_id == "00000000-0000-0000-0000-000000000001" && azurerm_role_assignment.planner_cluster_user.principal_id == "00000000-0000-0000-0000-000000000002"
    error_message = "Both identities need the Cluster User role to list the cluster's user credentials."
  }
  assert {
    condition     = azurerm_role_assignment.deployer_acr_push.role_definition_name == "AcrPush"
    error_message = "The deploy identity pushes the app's images."
  }
}

# env.yaml's azure.ingress left out: public, as before internal environments existed. The internal
# shape is planned from a copy of env.yaml (tests/terraform/test_internal_exposure.py).
run "environments_without_an_ingress_block_stay_public" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.ingress_exposure == "public" && output.ingress_private_ip == null && module.app_gateway.listener_frontend == "public"
    error_message = "dev names no exposure, so its gateway listens on the public IP."
  }
  assert {
    condition     = module.dns.public_record_hosts == tolist(["dev.orderdesk.example.com", "grafana.dev.orderdesk.example.com"]) && length(module.dns.private_record_hosts) == 0 && module.dns.private_zone_id == null
    error_message = "A public environment's hosts (the app and Grafana) are in the public zone, with no private zone."
  }
  assert {
    condition     = length(azurerm_user_assigned_identity.cert_manager) == 0 && output.cert_manager_client_id == null
    error_message = "A public environment uses HTTP-01 and gives cert-manager no Azure identity."
  }
  assert {
    condition     = contains(module.network.inbound_rule_names["appgw"], "AllowWebFromInternet")
    error_message = "A public environment's gateway subnet admits web traffic from the internet."
  }
}
