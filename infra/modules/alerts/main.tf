locals {
  metric_namespace = "Microsoft.ContainerService/managedClusters"

  # The cluster's platform metrics (no agent in the cluster is needed to evaluate them), so the
  # alarms still fire when Prometheus, Alertmanager or the node they run on are down.
  # Names follow the Prometheus alerts (CamelCase, shared prefix); each links to its runbook section.
  alarms = {
    OrderdeskNodeCpuHigh = {
      settings    = var.alerts.node_cpu
      metric_name = "node_cpu_usage_percentage"
      # One series per node: the busiest node alarms even when the average hides it.
      aggregation = "Average"
      dimension   = { name = "node", values = ["*"] }
      description = "A node's average CPU has been above ${var.alerts.node_cpu.threshold}% over ${var.alerts.node_cpu.window}."
    }
    OrderdeskNodeMemoryHigh = {
      settings    = var.alerts.node_memory
      metric_name = "node_memory_working_set_percentage"
      aggregation = "Average"
      dimension   = { name = "node", values = ["*"] }
      description = "A node's memory working set has been above ${var.alerts.node_memory.threshold}% over ${var.alerts.node_memory.window}."
    }
    OrderdeskPodsFailedOrPending = {
      settings    = var.alerts.pods_failed_or_pending
      metric_name = "kube_pod_status_phase"
      # Minimum over the window: the count never dropped to the threshold, i.e. pods stayed
      # Failed or Pending for the whole window (a pod passing through Pending does not alarm).
      aggregation = "Minimum"
      dimension   = { name = "phase", values = ["Failed", "Pending"] }
      description = "More than ${var.alerts.pods_failed_or_pending.threshold} pods have been Failed or Pending for ${var.alerts.pods_failed_or_pending.window}."
    }
  }
}

resource "azurerm_monitor_action_group" "this" {
  name                = "ag-${var.name}"
  resource_group_name = var.resource_group_name
  short_name          = var.short_name
  tags                = var.tags

  # The Teams receiver (the channel Alertmanager posts to) is set by the deploy's secrets stage from
  # Key Vault's teams-webhook-url (`invoke azure.secrets`, ops/azure.py): an action group's
  # service_uri is no write-only argument, so a URL given here would sit in the plan file and the
  # state. Terraform leaves that receiver as the stage set it.
  lifecycle {
    ignore_changes = [webhook_receiver]
  }
}

resource "azurerm_monitor_metric_alert" "this" {
  for_each = local.alarms

  name                = each.key
  resource_group_name = var.resource_group_name
  scopes              = [var.cluster_id]
  description         = "${each.value.description} Runbook: ${var.runbook_url}#${lower(each.key)}"
  severity            = each.value.settings.severity
  frequency           = "PT1M"
  window_size         = each.value.settings.window
  auto_mitigate       = true
  tags                = var.tags

  criteria {
    metric_namespace = local.metric_namespace
    metric_name      = each.value.metric_name
    aggregation      = each.value.aggregation
    operator         = "GreaterThan"
    threshold        = each.value.settings.threshold

    dimension {
      name     = each.value.dimension.name
      operator = "Include"
      values   = each.value.dimension.values
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.this.id
  }
}

# The three charts the original team built by hand in the portal, reproducible: average node CPU,
# average node memory working set (both split by node) and the pod count by phase.
resource "azurerm_application_insights_workbook" "this" {
  # A workbook's name is a GUID; derived from the cluster name so a re-plan keeps the same one.
  name                = uuidv5("url", "https://orderdesk/workbooks/${var.name}")
  resource_group_name = var.resource_group_name
  location            = var.location
  display_name        = "Orderdesk ${var.name}: nodes and pods"
  # Pinned to the cluster so the workbook opens from its Workbooks blade; Azure wants it lower case.
  source_id = lower(var.cluster_id)
  category  = "workbook"
  tags      = var.tags

  data_json = jsonencode({
    version = "Notebook/1.0"
    items = [
      for chart in [
        { name = "node-cpu", title = "Average node CPU %", metric = "node_cpu_usage_percentage", aggregation = 4, split_by = "node" },
        { name = "node-memory", title = "Average node memory working set %", metric = "node_memory_working_set_percentage", aggregation = 4, split_by = "node" },
        { name = "pods-by-phase", title = "Pods by phase", metric = "kube_pod_status_phase", aggregation = 4, split_by = "phase" },
        ] : {
        type = 10 # a metrics chart
        name = chart.name
        content = {
          chartId      = "workbook-${chart.name}"
          version      = "MetricsItem/2.0"
          size         = 0
          chartType    = 2 # line
          title        = chart.title
          resourceType = lower(local.metric_namespace)
          metricScope  = 0
          resourceIds  = [var.cluster_id]
          timeContext  = { durationMs = 86400000 }
          metrics = [{
            namespace   = lower(local.metric_namespace)
            metric      = "${lower(local.metric_namespace)}--${chart.metric}"
            aggregation = chart.aggregation # 4 = Average
            splitBy     = [chart.split_by]
          }]
        }
      }
    ]
  })
}
