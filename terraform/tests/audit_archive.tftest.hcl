# terraform test (mock provider, no AWS account): the audit archive and event bus (audit_archive.tf).

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
  mock_resource "aws_cloudwatch_event_bus" {
    defaults = { arn = "arn:aws:events:eu-west-1:999999999999:event-bus/cloud-access" }
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
    condition     = length(aws_glue_catalog_table.audit_events[0].storage_descriptor[0].columns) == 24
    error_message = "the Glue table declares every archive column"
  }
}
