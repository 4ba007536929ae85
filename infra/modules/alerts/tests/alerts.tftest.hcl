mock_provider "azurerm" {}

variables {
  name                = "orderdesk-test"
  short_name          = "od-test"
  location            = "westeurope"
  resource_group_name = "rg-orderdesk-test"
  cluster_id          = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orderdesk-test/providers/Microsoft.ContainerService/managedClusters/aks-orderdesk-test"
  runbook_url         = "https://github.com/orderdesk/orderdesk/blob/main/monitoring/runbooks.md"
  tags                = { environment = "test" }
}

# An action group's webhook_receiver.service_uri is an ordinary argument (azurerm docs
# r/monitor_action_group), kept in plan and state: the Teams URL never goes through it here.
run "action_group_holds_no_teams_url" {
  command = plan

  assert {
    condition     = length(azurerm_monitor_action_group.this.webhook_receiver) == 0
    error_message = "The Teams receiver is set outside Terraform (invoke azure.secrets), never with its URL in state."
  }
}

# node_cpu_usage_percentage, dimension node: Microsoft Learn, supported metrics for Microsoft.ContainerService/managedClusters.
run "node_cpu_alarm_watches_the_cluster_at_80_percent_over_5_minutes" {
  command = plan

  assert {
    condition     = azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].scopes == toset([var.cluster_id])
    error_message = "The node CPU alarm must watch the cluster."
  }
  assert {
    condition = alltrue([
      for criteria in azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].criteria :
      criteria.metric_namespace == "Microsoft.ContainerService/managedClusters" && criteria.metric_name == "node_cpu_usage_percentage" && criteria.aggregation == "Average" && criteria.operator == "GreaterThan" && criteria.threshold == 80
    ]) && length(azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].criteria) == 1
    error_message = "Node CPU must alarm above an average of 80%."
  }
  assert {
    condition     = azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].window_size == "PT5M" && azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].severity == 2
    error_message = "Node CPU must be averaged over 5 minutes, severity 2 (warning), by default."
  }
}

# node_memory_working_set_percentage, dimension node: Microsoft Learn, supported metrics for Microsoft.ContainerService/managedClusters.
run "node_memory_alarm_watches_the_working_set_at_80_percent_over_5_minutes" {
  command = plan

  assert {
    condition     = azurerm_monitor_metric_alert.this["OrderdeskNodeMemoryHigh"].scopes == toset([var.cluster_id]) && azurerm_monitor_metric_alert.this["OrderdeskNodeMemoryHigh"].window_size == "PT5M"
    error_message = "The node memory alarm must watch the cluster over 5 minutes."
  }
  assert {
    condition = alltrue([
      for criteria in azurerm_monitor_metric_alert.this["OrderdeskNodeMemoryHigh"].criteria :
      criteria.metric_name == "node_memory_working_set_percentage" && criteria.threshold == 80 && criteria.operator == "GreaterThan"
    ]) && length(azurerm_monitor_metric_alert.this["OrderdeskNodeMemoryHigh"].criteria) == 1
    error_message = "Node memory must alarm above 80% of the working set."
  }
}

# kube_pod_status_phase with dimension phase: Microsoft Learn, supported metrics for Microsoft.ContainerService/managedClusters.
run "pods_alarm_counts_failed_and_pending_pods_by_phase" {
  command = plan

  assert {
    condition     = azurerm_monitor_metric_alert.this["OrderdeskPodsFailedOrPending"].scopes == toset([var.cluster_id]) && azurerm_monitor_metric_alert.this["OrderdeskPodsFailedOrPending"].window_size == "PT15M"
    error_message = "The pods alarm must watch the cluster over 15 minutes (Azure's shortest window covering 10)."
  }
  assert {
    condition = alltrue([
      for criteria in azurerm_monitor_metric_alert.this["OrderdeskPodsFailedOrPending"].criteria :
      criteria.metric_name == "kube_pod_status_phase" && criteria.threshold == 0 && criteria.operator == "GreaterThan" && criteria.aggregation == "Minimum" &&
      alltrue([for dimension in criteria.dimension : dimension.name == "phase" && dimension.operator == "Include" && toset(dimension.values) == toset(["Failed", "Pending"])])
    ]) && length(azurerm_monitor_metric_alert.this["OrderdeskPodsFailedOrPending"].criteria[0].dimension) == 1
    error_message = "Pods must alarm when any stays Failed or Pending for the whole window."
  }
}

run "every_alarm_notifies_the_action_group_and_links_its_runbook" {
  command = plan

  assert {
    condition     = length(azurerm_monitor_metric_alert.this) == 3
    error_message = "Three alarms: node CPU, node memory, pods failed or pending."
  }
  assert {
    condition = alltrue([
      for name, alert in azurerm_monitor_metric_alert.this :
      strcontains(alert.description, "Runbook: ${var.runbook_url}#${lower(name)}") && length(alert.action) == 1 && alert.frequency == "PT1M" && alert.auto_mitigate
    ])
    error_message = "Each alarm must link its runbook section, notify the action group, and resolve by itself."
  }
}

run "thresholds_windows_and_severities_come_from_the_caller" {
  command = plan

  variables {
    alerts = {
      node_cpu               = { threshold = 90, window = "PT15M", severity = 1 }
      pods_failed_or_pending = { threshold = 2 }
    }
  }

  assert {
    condition     = azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].criteria[0].threshold == 90 && azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].window_size == "PT15M" && azurerm_monitor_metric_alert.this["OrderdeskNodeCpuHigh"].severity == 1
    error_message = "The node CPU alarm must take its threshold, window and severity from the caller."
  }
  assert {
    condition     = azurerm_monitor_metric_alert.this["OrderdeskPodsFailedOrPending"].criteria[0].threshold == 2 && azurerm_monitor_metric_alert.this["OrderdeskPodsFailedOrPending"].window_size == "PT15M"
    error_message = "Settings left out keep their defaults."
  }
  assert {
    condition     = azurerm_monitor_metric_alert.this["OrderdeskNodeMemoryHigh"].criteria[0].threshold == 80
    error_message = "An alarm the caller does not mention keeps its defaults."
  }
}

# workbook name is a GUID and source_id has no upper case: azurerm docs r/application_insights_workbook.
run "workbook_charts_node_cpu_node_memory_and_pods_by_phase" {
  command = plan

  assert {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", azurerm_application_insights_workbook.this.name)) && azurerm_application_insights_workbook.this.source_id == lower(var.cluster_id)
    error_message = "The workbook's name must be a lower-case GUID and its source the cluster, in lower case."
  }
  assert {
    condition = [
      for item in jsondecode(azurerm_application_insights_workbook.this.data_json).items : item.content.metrics[0].metric
      ] == [
      "microsoft.containerservice/managedclusters--node_cpu_usage_percentage",
      "microsoft.containerservice/managedclusters--node_memory_working_set_percentage",
      "microsoft.containerservice/managedclusters--kube_pod_status_phase",
    ]
    error_message = "The workbook must chart node CPU, node memory and pods by phase, in that order."
  }
  assert {
    condition     = alltrue([for item in jsondecode(azurerm_application_insights_workbook.this.data_json).items : item.content.resourceIds == [var.cluster_id]])
    error_message = "Every chart must read the cluster's metrics."
  }
}

# window_size values: azurerm internal/services/monitor/monitor_metric_alert_resource.go (StringInSlice, no PT10M).
run "rejects_a_window_azure_does_not_offer" {
  command = plan

  variables {
    alerts = { pods_failed_or_pending = { window = "PT10M" } }
  }
  expect_failures = [var.alerts]
}

# severity 0-4: azurerm docs r/monitor_metric_alert.
run "rejects_a_severity_outside_0_to_4" {
  command = plan

  variables {
    alerts = { node_memory = { severity = 5 } }
  }
  expect_failures = [var.alerts]
}

run "rejects_a_percentage_threshold_above_100" {
  command = plan

  variables {
    alerts = { node_cpu = { threshold = 120 } }
  }
  expect_failures = [var.alerts]
}

run "rejects_a_fractional_pod_count" {
  command = plan

  variables {
    alerts = { pods_failed_or_pending = { threshold = 0.5 } }
  }
  expect_failures = [var.alerts]
}

run "rejects_a_scope_that_is_not_an_aks_cluster" {
  command = plan

  variables {
    cluster_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
  }
  expect_failures = [var.cluster_id]
}

# groupShortName at most 12 characters: azurerm monitor_action_group_resource.go (StringLenBetween(1, 12)).
run "rejects_a_short_name_longer_than_12" {
  command = plan

  variables {
    short_name = "orderdesk-production"
  }
  expect_failures = [var.short_name]
}

run "rejects_a_runbook_url_with_an_anchor" {
  command = plan

  variables {
    runbook_url = "https://github.com/orderdesk/orderdesk/blob/main/monitoring/runbooks.md#x"
  }
  expect_failures = [var.runbook_url]
}

run "rejects_a_bad_name" {
  command = plan

  variables {
    name = "-orderdesk"
  }
  expect_failures = [var.name]
}
