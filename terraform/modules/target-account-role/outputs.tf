output "role_arn" {
  description = "ARN of the role the bot assumes: the account's iam_role in the bot config, and an entry of target_account_role_arns in the root module"
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role the bot assumes"
  value       = aws_iam_role.this.name
}

output "managed_policy_name" {
  description = "Name of the customer managed policy the bot maintains (reference it by name in IAM Identity Center permission sets)"
  value       = var.managed_policy_name
}

output "broker_role_arn" {
  description = "ARN of the broker role (null unless create_broker_role)"
  value       = try(aws_iam_role.broker[0].arn, null)
}
