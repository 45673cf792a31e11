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

output "managed_policy_arn" {
  description = "ARN of the grants policy the module created (null unless access_mode is managed_policy); create the permission sets that reference it after this apply"
  value       = try(aws_iam_policy.grants[0].arn, null)
}

output "managed_policy_path" {
  description = "Path of the grants policy (the config's managed_policy_path, and the permission set's reference)"
  value       = var.managed_policy_path
}

output "broker_role_arn" {
  description = "ARN of the broker role (null unless access_mode is session_credentials)"
  value       = try(aws_iam_role.broker[0].arn, null)
}
