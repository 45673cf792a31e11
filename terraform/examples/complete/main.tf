# A bot in a tooling account that grants access in one target account (development), with a
# customer managed KMS key for its logs, secret, table and config bucket. The bot role in the
# target account comes from modules/target-account-role; with more accounts, add one module
# block (and one provider alias) per account.

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "development"
  region = var.region

  assume_role {
    role_arn = var.development_account_role_arn
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name = "cloud-access-bot"
  tags = {
    Project   = "cloud-access-bot"
    ManagedBy = "terraform"
  }
  # The bot role's ARN in the target account is known before either side exists, which breaks
  # the cycle: the bot needs it to be allowed sts:AssumeRole, the role needs the bot's task role.
  development_bot_role_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.development.account_id}:role/${local.name}"
}

data "aws_caller_identity" "development" {
  provider = aws.development
}

################################################################################
# KMS key for the bot's data
################################################################################

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:Key policy: Resource "*" means this key only, and the account-root statement is the AWS default that delegates access to IAM
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" means this key only; writes are delegated to IAM policies
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only valid resource in a key policy and means this key
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/aws/ecs/${local.name}"]
    }
  }
}

resource "aws_kms_key" "bot" {
  description         = "cloud-access-bot logs, Slack tokens, state table and config"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json

  tags = local.tags
}

resource "aws_kms_alias" "bot" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.bot.key_id
}

################################################################################
# The bot
################################################################################

module "cloud_access_bot" {
  source = "../.."

  name            = local.name
  vpc_id          = var.vpc_id
  subnet_ids      = var.private_subnet_ids
  container_image = var.container_image
  desired_count   = 1

  target_account_role_arns = [local.development_bot_role_arn]

  config_file_path = "${path.module}/config.yml"

  cloudwatch_log_group_kms_key_id = aws_kms_key.bot.arn
  slack_secret_kms_key_id         = aws_kms_key.bot.arn
  dynamodb_kms_key_arn            = aws_kms_key.bot.arn
  config_bucket_kms_key_arn       = aws_kms_key.bot.arn

  tags = local.tags
}

################################################################################
# Target account: development
################################################################################

module "development_account_role" {
  source = "../../modules/target-account-role"

  providers = {
    aws = aws.development
  }

  name              = local.name
  bot_task_role_arn = module.cloud_access_bot.task_role_arn
  login_role_names  = ["Developer"]

  tags = local.tags
}
