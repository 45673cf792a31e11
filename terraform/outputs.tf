output "cluster_arn" {
  description = "ARN of the ECS cluster running the bot"
  value       = local.cluster_arn
}

output "service_name" {
  description = "Name of the ECS service"
  value       = aws_ecs_service.this.name
}

output "service_id" {
  description = "ARN of the ECS service"
  value       = aws_ecs_service.this.id
}

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition"
  value       = aws_ecs_task_definition.this.arn
}

output "container_name" {
  description = "Name of the bot container in the task definition"
  value       = local.container_name
}

output "task_role_arn" {
  description = "ARN of the bot's task role: pass it as bot_task_role_arn to modules/target-account-role in each target account"
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the bot's task role"
  value       = aws_iam_role.task.name
}

output "task_execution_role_arn" {
  description = "ARN of the task execution role"
  value       = aws_iam_role.task_execution.arn
}

output "security_group_id" {
  description = "ID of the task's security group (no ingress, HTTPS egress)"
  value       = aws_security_group.this.id
}

output "cloudwatch_log_group_name" {
  description = "Name of the bot's CloudWatch log group"
  value       = aws_cloudwatch_log_group.this.name
}

output "cloudwatch_log_group_arn" {
  description = "ARN of the bot's CloudWatch log group"
  value       = aws_cloudwatch_log_group.this.arn
}

output "slack_secret_arn" {
  description = "ARN of the Secrets Manager secret that must hold {\"SLACK_APP_TOKEN\", \"SLACK_BOT_TOKEN\"}"
  value       = aws_secretsmanager_secret.slack.arn
}

output "dynamodb_table_name" {
  description = "Name of the state table (dynamoDbTable in the bot config)"
  value       = aws_dynamodb_table.this.name
}

output "dynamodb_table_arn" {
  description = "ARN of the state table"
  value       = aws_dynamodb_table.this.arn
}

output "config_bucket_name" {
  description = "Name of the config bucket (BOT_CONFIG_S3_BUCKET)"
  value       = aws_s3_bucket.config.id
}

output "config_bucket_arn" {
  description = "ARN of the config bucket"
  value       = aws_s3_bucket.config.arn
}

output "config_object_key" {
  description = "Key of the config object (BOT_CONFIG_S3_KEY)"
  value       = var.config_object_key
}

output "config_s3_uri" {
  description = "s3:// URI of the config object, for aws s3 cp"
  value       = "s3://${aws_s3_bucket.config.id}/${var.config_object_key}"
}

output "alarm_arns" {
  description = "ARNs of the CloudWatch alarms by name (empty when alarm_sns_topic_arn is null)"
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.sweeper_stalled : "sweeper_stalled" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.grant_failures : "grant_failures" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.task_unhealthy : "task_unhealthy" => a.arn },
  )
}

output "audit_archive_bucket" {
  description = "The audit archive bucket (config audit_archive.bucket), or null"
  value       = try(aws_s3_bucket.audit_archive[0].id, null)
}

output "audit_athena_workgroup" {
  description = "Athena workgroup for the audit queries of docs/audit.md, or null"
  value       = try(aws_athena_workgroup.audit[0].name, null)
}

output "audit_glue_table" {
  description = "Glue database.table of the archived events, or null"
  value       = try("${aws_glue_catalog_database.audit[0].name}.${aws_glue_catalog_table.audit_events[0].name}", null)
}

output "event_bus_arn" {
  description = "ARN of the bot's EventBridge bus (config event_bus), or null"
  value       = try(aws_cloudwatch_event_bus.audit[0].arn, null)
}
