output "action_group_id" {
  description = "The action group that posts to Teams."
  value       = module.alerts.action_group_id
}
