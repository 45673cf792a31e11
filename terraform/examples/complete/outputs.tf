output "slack_secret_arn" {
  description = "Put the Slack tokens into this secret"
  value       = module.cloud_access_bot.slack_secret_arn
}

output "config_s3_uri" {
  description = "Where the bot reads its config"
  value       = module.cloud_access_bot.config_s3_uri
}

output "dynamodb_table_name" {
  description = "dynamoDbTable in config.yml"
  value       = module.cloud_access_bot.dynamodb_table_name
}

output "development_role_arn" {
  description = "iam_role of the development account in config.yml"
  value       = module.development_account_role.role_arn
}

output "cloudwatch_log_group_name" {
  description = "Where the bot logs"
  value       = module.cloud_access_bot.cloudwatch_log_group_name
}
