output "organizations_reader_role_arn" {
  description = "organizations.iam_role in the bot config"
  value       = module.organizations_reader.role_arn
}

output "task_role_arn" {
  description = "The principal every member account's cloud-access-bot role must trust (bot_task_role_arn of modules/target-account-role)"
  value       = module.cloud_access_bot.task_role_arn
}
