data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # arn:aws:sso:::instance/ssoins-… → ssoins-…
  instance_id = element(split("/", var.instance_arn), 1)

  account_arns = [for id in var.account_ids : "arn:${local.partition}:sso:::account/${id}"]
  # Permission set ARNs carry an id, not the name: the sets the bot makes (CAB-<request id>)
  # are told apart by their managed-by tag instead.
  any_permission_set = "arn:${local.partition}:sso:::permissionSet/${local.instance_id}/*"
  request_set_account_arns = [
    for id in var.request_permission_set_account_ids : "arn:${local.partition}:sso:::account/${id}"
  ]
  identity_store_arn = join(":", [
    "arn", local.partition, "identitystore", "", data.aws_caller_identity.current.account_id,
    "identitystore/${var.identity_store_id}",
  ])
  group_arns = [for id in var.group_ids : "arn:${local.partition}:identitystore:::group/${id}"]
}

################################################################################
# Role the bot assumes in the IAM Identity Center account (management or delegated admin)
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "CloudAccessBot"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.bot_task_role_arn]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Assumed by cloud-access-bot to assign IAM Identity Center permission sets and group memberships for a while"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  # The modal finds the configured permission sets by name: it lists the instance's sets and
  # reads each one's name and description (metadata only, never a policy).
  statement {
    sid       = "FindPermissionSetsByName"
    actions   = ["sso:DescribePermissionSet", "sso:ListPermissionSets"]
    resources = [var.instance_arn, local.any_permission_set]
  }

  dynamic "statement" {
    for_each = length(var.permission_set_arns) > 0 ? [1] : []

    content {
      sid = "AssignConfiguredPermissionSets"
      actions = [
        "sso:CreateAccountAssignment",
        "sso:DeleteAccountAssignment",
        "sso:DescribePermissionSet",
        "sso:ListAccountAssignments",
      ]
      resources = concat([var.instance_arn], var.permission_set_arns, local.account_arns)
    }
  }

  # request_permission_set: the bot makes, provisions, assigns and deletes only sets it tagged.
  dynamic "statement" {
    for_each = length(var.request_permission_set_account_ids) > 0 ? [1] : []

    content {
      sid       = "CreateRequestPermissionSets"
      actions   = ["sso:CreatePermissionSet", "sso:TagResource"]
      resources = [local.any_permission_set]

      condition {
        test     = "StringEquals"
        variable = "aws:RequestTag/managed-by"
        values   = ["cloud-access-bot"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.request_permission_set_account_ids) > 0 ? [1] : []

    content {
      sid = "ManageRequestPermissionSets"
      actions = [
        "sso:CreateAccountAssignment",
        "sso:DeleteAccountAssignment",
        "sso:DeletePermissionSet",
        "sso:ListAccountAssignments",
        "sso:ProvisionPermissionSet",
        "sso:PutInlinePolicyToPermissionSet",
        "sso:UpdatePermissionSet",
      ]
      resources = [local.any_permission_set]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/managed-by"
        values   = ["cloud-access-bot"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.request_permission_set_account_ids) > 0 ? [1] : []

    content {
      sid = "RequestPermissionSetsInstanceAndAccounts"
      actions = [
        "sso:CreateAccountAssignment",
        "sso:CreatePermissionSet",
        "sso:DeleteAccountAssignment",
        "sso:DeletePermissionSet",
        "sso:DescribePermissionSetProvisioningStatus",
        "sso:ListAccountAssignments",
        "sso:ProvisionPermissionSet",
        "sso:PutInlinePolicyToPermissionSet",
        "sso:UpdatePermissionSet",
      ]
      resources = concat([var.instance_arn], local.request_set_account_arns)
    }
  }

  statement {
    sid = "FollowAssignmentRequests"
    actions = [
      "sso:DescribeAccountAssignmentCreationStatus",
      "sso:DescribeAccountAssignmentDeletionStatus",
    ]
    resources = [var.instance_arn]
  }

  # Requesters are found by email (then UserName) in the instance's identity store.
  statement {
    sid       = "FindUsers"
    actions   = ["identitystore:GetUserId"]
    resources = [local.identity_store_arn, "arn:${local.partition}:identitystore:::user/*"]
  }

  dynamic "statement" {
    for_each = length(var.group_ids) > 0 ? [1] : []

    content {
      sid = "JoinConfiguredGroups"
      actions = [
        "identitystore:CreateGroupMembership",
        "identitystore:DeleteGroupMembership",
        "identitystore:GetGroupId",
        "identitystore:GetGroupMembershipId",
      ]
      resources = concat(
        [local.identity_store_arn, "arn:${local.partition}:identitystore:::user/*"],
        local.group_arns,
        ["arn:${local.partition}:identitystore:::membership/*"],
      )
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "cloud-access-bot"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
