# A bot that takes its accounts from AWS Organizations (thousands of accounts): the task role
# assumes the bot's role by name in any account of the organisation (aws:ResourceOrgID), and
# the read-only reader role in the management account lists the organisation. The role in each
# member account (modules/target-account-role, same name) is rolled out by your account factory
# or a StackSet, not here (docs/deploy.md, "With AWS Organizations").

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "management"
  region = var.region

  assume_role {
    role_arn = var.management_account_role_arn
  }
}

locals {
  name = "cloud-access-bot"
  tags = {
    Project   = "cloud-access-bot"
    ManagedBy = "terraform"
  }
}

module "cloud_access_bot" {
  source = "../.."

  name            = local.name
  vpc_id          = var.vpc_id
  subnet_ids      = var.private_subnet_ids
  container_image = var.container_image

  organization_id               = var.organization_id
  organization_role_name        = local.name
  organizations_reader_role_arn = module.organizations_reader.role_arn

  tags = local.tags
}

module "organizations_reader" {
  source = "../../modules/organizations-reader-role"

  providers = {
    aws = aws.management
  }

  bot_task_role_arn = module.cloud_access_bot.task_role_arn

  tags = local.tags
}
