data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  iam_prefix = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}"

  # Each name in its plain form and path-qualified form (role/<path>/<name>).
  login_role_arns = flatten([for name in var.login_role_names : [
    "${local.iam_prefix}:role/${name}",
    "${local.iam_prefix}:role/*/${name}",
  ]])
  managed_policy_arns = [
    "${local.iam_prefix}:policy/${var.managed_policy_name}",
    "${local.iam_prefix}:policy/*/${var.managed_policy_name}",
  ]
  # Overflow policies the bot creates, attaches to a full login role and deletes when empty.
  overflow_policy_arns = ["${local.iam_prefix}:policy/cloud-access-bot/*"]

  # Only the bot's task role (and, for the broker, the role below) may assume these roles.
  trusted_principals = {
    bot    = [var.bot_task_role_arn]
    broker = [var.bot_task_role_arn, aws_iam_role.this.arn]
  }
}

################################################################################
# Role the bot assumes to grant and revoke access in this account
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "CloudAccessBot"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = local.trusted_principals.bot
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Assumed by cloud-access-bot to grant and revoke time-limited access in this account"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_356:Only the read-only DiscoverResources statement uses "*": listing every DB instance, DB cluster and ECR repository (no identifier) is authorized against "*"; all write actions are scoped to ARNs
  dynamic "statement" {
    for_each = length(local.login_role_arns) > 0 ? [1] : []

    content {
      sid = "ManageGrantsOnLoginRoles"
      actions = [
        "iam:DeleteRolePolicy",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "iam:PutRolePolicy",
      ]
      resources = local.login_role_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.login_role_arns) > 0 ? [1] : []

    content {
      sid       = "AttachOnlyTheBotsPolicies"
      actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
      resources = local.login_role_arns

      condition {
        test     = "ArnLike"
        variable = "iam:PolicyARN"
        values   = concat(local.managed_policy_arns, local.overflow_policy_arns)
      }
    }
  }

  statement {
    sid = "MaintainGrantsPolicy"
    actions = [
      "iam:CreatePolicy",
      "iam:CreatePolicyVersion",
      "iam:DeletePolicyVersion",
      "iam:GetPolicy",
      "iam:GetPolicyVersion",
      "iam:ListPolicyVersions",
    ]
    resources = local.managed_policy_arns
  }

  statement {
    sid = "MaintainOverflowPolicies"
    actions = [
      "iam:CreatePolicy",
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:GetPolicy",
      "iam:GetPolicyVersion",
      "iam:ListPolicyVersions",
    ]
    resources = local.overflow_policy_arns
  }

  # Resource pickers in the request modal. These list calls only accept Resource "*".
  statement {
    sid = "DiscoverResources"
    actions = [
      "dynamodb:ListTables",
      "ec2:DescribeInstances",
      "ecr:DescribeRepositories",
      "ecs:ListClusters",
      "ecs:ListServices",
      "kms:ListAliases",
      "kms:ListKeys",
      "lambda:ListFunctions",
      "logs:DescribeLogGroups",
      "rds:DescribeDBClusters",
      "rds:DescribeDBInstances",
      "s3:ListAllMyBuckets",
      "secretsmanager:ListSecrets",
      "sns:ListTopics",
      "sqs:ListQueues",
      "states:ListStateMachines",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.create_broker_role ? [1] : []

    content {
      sid       = "AssumeBrokerRole"
      actions   = ["sts:AssumeRole"]
      resources = [aws_iam_role.broker[0].arn]
    }
  }

  # Revoking a session_credentials grant writes a deny for that session on the broker role
  # (cloud-access-bot-revoked-<request id>) and deletes it once the grant's window has passed.
  dynamic "statement" {
    for_each = var.create_broker_role ? [1] : []

    content {
      sid = "DenyRevokedSessions"
      actions = [
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
      ]
      resources = [aws_iam_role.broker[0].arn]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "cloud-access-bot"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

################################################################################
# Broker role (session_credentials mode)
################################################################################

data "aws_iam_policy_document" "broker_assume" {
  count = var.create_broker_role ? 1 : 0

  statement {
    sid     = "CloudAccessBot"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = local.trusted_principals.broker
    }
  }
}

resource "aws_iam_role" "broker" {
  count = var.create_broker_role ? 1 : 0

  name                 = var.broker_role_name
  description          = "Assumed by cloud-access-bot with a session policy limited to one approved grant"
  assume_role_policy   = data.aws_iam_policy_document.broker_assume[0].json
  max_session_duration = var.broker_max_session_duration
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "broker" {
  for_each = var.create_broker_role ? toset(var.broker_role_policy_arns) : toset([])

  role       = aws_iam_role.broker[0].name
  policy_arn = each.value
}
