# terraform test (mock provider, no AWS account): the task role's policy and the alarms.

mock_provider "aws" {
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "999999999999" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
  override_data {
    target = data.aws_region.current
    values = { name = "eu-west-1" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::999999999999:role/cloud-access-bot-task" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:999999999999:cluster/cloud-access-bot" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:999999999999:task-definition/cloud-access-bot:1" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:999999999999:log-group:/aws/ecs/cloud-access-bot" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:999999999999:secret:cloud-access-bot/slack-tokens-AbCdEf" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::cloud-access-bot-config-mock", id = "cloud-access-bot-config-mock" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:eu-west-1:999999999999:table/cloud_access_bot" }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = { arn = "arn:aws:cloudwatch:eu-west-1:999999999999:alarm:mock" }
  }
  override_data {
    target = data.aws_iam_policy_document.ecs_tasks_assume
    values = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  override_data {
    target = data.aws_iam_policy_document.task_execution
    values = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:999999999999:key/mock" }
  }
  override_data {
    target = data.aws_iam_policy_document.audit_archive_bucket
    values = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  override_data {
    target = data.aws_iam_policy_document.config_bucket
    values = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0aaaaaaaaaaaaaaaa"]
  container_image          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cloud-access-bot:1.0.0"
  target_account_role_arns = ["arn:aws:iam::111111111111:role/cloud-access-bot"]
}

run "task_role_assumes_only_the_target_roles" {
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "AssumeTargetAccountRoles"]) == ["arn:aws:iam::111111111111:role/cloud-access-bot"]
    error_message = "the task role may assume more than the target-account roles"
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "StateTable"]) == [
      "arn:aws:dynamodb:eu-west-1:999999999999:table/cloud_access_bot",
      "arn:aws:dynamodb:eu-west-1:999999999999:table/cloud_access_bot/index/*",
    ]
    error_message = "the state table permissions are not limited to the bot's table"
  }
  assert {
    condition     = length(jsondecode(aws_iam_role_policy.task.policy).Statement) == 3
    error_message = "KMS statements without KMS keys"
  }
  assert {
    condition     = output.alarm_arns == {}
    error_message = "alarms were created without alarm_sns_topic_arn"
  }
}

run "kms_keys_add_their_statements" {
  variables {
    dynamodb_kms_key_arn      = "arn:aws:kms:eu-west-1:999999999999:key/11111111-1111-1111-1111-111111111111"
    config_bucket_kms_key_arn = "arn:aws:kms:eu-west-1:999999999999:key/22222222-2222-2222-2222-222222222222"
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Condition if s.Sid == "StateTableKey"]) == {
      StringEquals = { "kms:ViaService" = "dynamodb.eu-west-1.amazonaws.com" }
    }
    error_message = "the table key is not limited to use through DynamoDB"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Action if s.Sid == "ConfigKey"]) == ["kms:Decrypt"]
    error_message = "the config key allows more than kms:Decrypt"
  }
}

run "alarms_notify_the_topic" {
  variables {
    alarm_sns_topic_arn = "arn:aws:sns:eu-west-1:999999999999:ops"
    desired_count       = 2
  }

  assert {
    condition     = length(output.alarm_arns) == 3
    error_message = "expected the sweeper-stalled, grant-failures and task-unhealthy alarms"
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.sweeper_stalled["on"].namespace == "CloudAccessBot" &&
      aws_cloudwatch_metric_alarm.sweeper_stalled["on"].metric_name == "SweepSucceeded" &&
      aws_cloudwatch_metric_alarm.sweeper_stalled["on"].treat_missing_data == "breaching"
    )
    error_message = "the sweeper-stalled alarm does not watch SweepSucceeded, missing data breaching"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.grant_failures["on"].metric_name == "GrantFailures" && aws_cloudwatch_metric_alarm.grant_failures["on"].alarm_actions == toset(["arn:aws:sns:eu-west-1:999999999999:ops"])
    error_message = "the grant-failures alarm does not notify the topic"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.task_unhealthy["on"].threshold == 2 && aws_cloudwatch_metric_alarm.task_unhealthy["on"].dimensions == tomap({ ClusterName = "cloud-access-bot", ServiceName = "cloud-access-bot" })
    error_message = "the task-unhealthy alarm does not compare the service's running tasks with desired_count"
  }
}

# The audit archive and event bus (audit_archive.tf).
run "no_archive_no_extra_permissions" {
  command = apply

  assert {
    condition     = length(aws_s3_bucket.audit_archive) == 0 && length(local.audit_archive_statements) == 0
    error_message = "without audit_archive_bucket_name nothing is created and the task role gains nothing"
  }
}

run "archive_and_bus_grant_only_their_writes" {
  command = apply

  variables {
    audit_archive_bucket_name      = "acme-cloud-access-audit"
    audit_archive_object_lock_days = 400
    event_bus_name                 = "cloud-access"
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "WriteAuditArchive"] == ["arn:aws:s3:::cloud-access-bot-config-mock/events/*"]
    error_message = "the task role may put objects under the archive prefix only"
  }

  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Condition if s.Sid == "DrainOutbox"] == [{ "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = ["OUTBOX"] } }]
    error_message = "the task role may delete outbox items only"
  }

  assert {
    condition     = aws_s3_bucket_object_lock_configuration.audit_archive[0].rule[0].default_retention[0].mode == "COMPLIANCE"
    error_message = "Object Lock runs in compliance mode"
  }

  assert {
    condition     = length(aws_glue_catalog_table.audit_events[0].storage_descriptor[0].columns) == 26
    error_message = "the Glue table declares every archive column"
  }
}

run "organization_roles_only_by_name_inside_the_organisation" {
  variables {
    target_account_role_arns      = []
    organization_id               = "o-a1b2c3d4e5"
    organization_role_path        = "/bots/"
    organizations_reader_role_arn = "arn:aws:iam::222222222222:role/cloud-access-bot-organizations-reader"
  }

  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if s.Sid == "AssumeOrganizationAccountRoles"]) == {
      Sid       = "AssumeOrganizationAccountRoles"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Resource  = "arn:aws:iam::*:role/bots/cloud-access-bot"
      Condition = { StringEquals = { "aws:ResourceOrgID" = "o-a1b2c3d4e5" } }
    }
    error_message = "the organisation's roles are not limited to the role name inside the organisation"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Resource if s.Sid == "AssumeOrganizationsReaderRole"]) == "arn:aws:iam::222222222222:role/cloud-access-bot-organizations-reader"
    error_message = "the task role may not assume exactly the Organizations reader role"
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Sid if s.Sid == "AssumeTargetAccountRoles"] == []
    error_message = "an empty target_account_role_arns left a statement with no resource"
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s if strcontains(jsonencode(s), "sts:")]) == 2
    error_message = "the task role may assume more than the organisation's roles and the reader role"
  }
}

run "organization_needs_the_reader_role" {
  command = plan

  variables {
    organization_id = "o-a1b2c3d4e5"
  }

  expect_failures = [aws_iam_role_policy.task]
}

run "no_accounts_at_all_is_refused" {
  command = plan

  variables {
    target_account_role_arns = []
  }

  expect_failures = [aws_iam_role_policy.task]
}

run "organization_id_is_validated" {
  command = plan

  variables {
    organization_id               = "123456789012"
    organizations_reader_role_arn = "arn:aws:iam::222222222222:role/cloud-access-bot-organizations-reader"
  }

  expect_failures = [var.organization_id]
}
