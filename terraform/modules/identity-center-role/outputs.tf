output "role_arn" {
  description = "ARN of the role the bot assumes: identity_center.iam_role in the bot config, and an entry of target_account_role_arns in the root module"
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role the bot assumes"
  value       = aws_iam_role.this.name
}
