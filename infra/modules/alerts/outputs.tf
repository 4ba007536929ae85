output "action_group_id" {
  description = "ID of the action group that posts to Teams (other alert rules can use it too)."
  value       = azurerm_monitor_action_group.this.id
}

output "metric_alert_ids" {
  description = "Metric alert rule IDs by alert name, e.g. OrderdeskNodeCpuHigh."
  value       = { for name, alert in azurerm_monitor_metric_alert.this : name => alert.id }
}

output "workbook_id" {
  description = "ID of the workbook with the node CPU, node memory and pods-by-phase charts."
  value       = azurerm_application_insights_workbook.this.id
}

output "alarms" {
  description = "The alarms in force by name: threshold, window and severity after defaults."
  value = {
    for name, alert in azurerm_monitor_metric_alert.this : name => {
      threshold = one(alert.criteria).threshold
      window    = alert.window_size
      severity  = alert.severity
    }
  }
}
