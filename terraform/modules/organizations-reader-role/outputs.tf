output "role_arn" {
  description = "ARN of the role the bot assumes: organizations.iam_role in the bot config, and organizations_reader_role_arn in the root module"
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role the bot assumes"
  value       = aws_iam_role.this.name
}
