data "aws_partition" "current" {}

locals {
  policies = "${path.module}/../../policies"

  # ListRoots, ListOrganizationalUnitsForParent and ListAccountsForParent support no
  # resource-level permissions: Organizations accepts only Resource "*" for them. Tags are read
  # only on accounts (account ARNs carry the management account and organisation ids).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = flatten([
      jsondecode(file("${local.policies}/organizations-reader-role.json.tftpl")).Statement,
      var.read_tags ? jsondecode(templatefile("${local.policies}/organizations-reader-role-tags.json.tftpl", {
        account_arns = "arn:${data.aws_partition.current.partition}:organizations::*:account/o-*/*"
      })).Statement : [],
    ])
  })
}

################################################################################
# Role the bot assumes to list the organisation (management or delegated-administrator account)
################################################################################

resource "aws_iam_role" "this" {
  name        = var.name
  description = "Assumed by cloud-access-bot to list the organisation's OUs, accounts and account tags (read only)"
  assume_role_policy = templatefile("${local.policies}/organizations-reader-role-trust.json.tftpl", {
    bot_task_role_arn = var.bot_task_role_arn
  })
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "cloud-access-bot-organizations-reader"
  role   = aws_iam_role.this.id
  policy = local.policy
}
