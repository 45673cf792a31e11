data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  iam_prefix = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}"
  policies   = "${path.module}/../../policies"

  # Built from names, not from the resources: the trust and permission policies refer to these
  # roles, so taking the ARNs from the resources would make each role depend on itself.
  role_arn        = "${local.iam_prefix}:role/${var.name}"
  broker_role_arn = "${local.iam_prefix}:role/${var.broker_role_name}"

  # Each name in its plain form and path-qualified form (role/<path>/<name>).
  login_role_arns = flatten([for name in var.login_role_names : [
    "${local.iam_prefix}:role/${name}",
    "${local.iam_prefix}:role/*/${name}",
  ]])
  grants_policy_arn = "${local.iam_prefix}:policy${var.managed_policy_path}${var.managed_policy_name}"
  # Overflow policies (inline_policy mode): created, attached to a full login role and deleted
  # when empty by the bot, only under this path.
  bot_policy_arns = "${local.iam_prefix}:policy/cloud-access-bot/*"

  # The values of every ${...} in policies/target-account-role-*.json.tftpl (lists as JSON).
  # The enforced-IAM tests (tests/iam/) render the same templates with the same names.
  template_vars = {
    role_arn          = local.role_arn
    broker_role_arn   = local.broker_role_arn
    login_role_arns   = jsonencode(local.login_role_arns)
    grants_policy_arn = local.grants_policy_arn
    bot_policy_arns   = local.bot_policy_arns
  }
  # Which templates make up the role's policy in each access mode.
  policy_parts = jsondecode(file("${local.policies}/target-account-role.json"))[var.access_mode]
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = flatten([
      for part in local.policy_parts :
      jsondecode(templatefile("${local.policies}/target-account-role-${part}.json.tftpl", local.template_vars)).Statement
    ])
  })
}

################################################################################
# Role the bot assumes to grant and revoke access in this account
################################################################################

resource "aws_iam_role" "this" {
  name                 = var.name
  description          = "Assumed by cloud-access-bot to grant and revoke time-limited access in this account"
  assume_role_policy   = templatefile("${local.policies}/target-account-role-trust.json.tftpl", { bot_task_role_arn = var.bot_task_role_arn })
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "cloud-access-bot"
  role   = aws_iam_role.this.id
  policy = local.policy

  lifecycle {
    precondition {
      condition     = var.access_mode == "session_credentials" || length(var.login_role_names) > 0
      error_message = "login_role_names must name at least one login role in inline_policy and managed_policy mode."
    }
  }
}

################################################################################
# Grants policy (managed_policy mode)
################################################################################

# A permission set cannot be provisioned while a customer managed policy it references is
# missing in the account, so the policy exists before any grant: empty (a statement matching
# nothing, as the bot leaves it when the last grant ends), then rewritten only by the bot.
resource "aws_iam_policy" "grants" {
  count = var.access_mode == "managed_policy" ? 1 : 0

  name        = var.managed_policy_name
  path        = var.managed_policy_path
  description = "Time-limited grants written by cloud-access-bot; changed only by the bot."
  policy      = templatefile("${local.policies}/grants-policy-placeholder.json.tftpl", {})

  tags = var.tags

  lifecycle {
    # The bot writes every grant as a new default version: Terraform must not reset it.
    ignore_changes = [policy]
  }
}

################################################################################
# Broker role (session_credentials mode)
################################################################################

resource "aws_iam_role" "broker" {
  count = var.access_mode == "session_credentials" ? 1 : 0

  name                 = var.broker_role_name
  description          = "Assumed by cloud-access-bot with a session policy limited to one approved grant"
  assume_role_policy   = templatefile("${local.policies}/broker-role-trust.json.tftpl", { role_arn = local.role_arn })
  max_session_duration = var.broker_max_session_duration
  permissions_boundary = var.permissions_boundary

  tags = var.tags

  # The trust policy names the bot's role, which IAM checks exists.
  depends_on = [aws_iam_role.this]
}

resource "aws_iam_role_policy_attachment" "broker" {
  for_each = var.access_mode == "session_credentials" ? toset(var.broker_role_policy_arns) : toset([])

  role       = aws_iam_role.broker[0].name
  policy_arn = each.value
}
