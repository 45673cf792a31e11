data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.name
  account_id     = data.aws_caller_identity.current.account_id
  container_name = "cloud-access-bot"

  cluster_arn = var.create_cluster ? aws_ecs_cluster.this[0].arn : var.cluster_arn

  # ECR repository of container_image, when it is an ECR image: [account, region, repository].
  ecr_image = try(regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.container_image), null)
  ecr_repository_arns = length(var.ecr_repository_arns) > 0 ? var.ecr_repository_arns : (
    local.ecr_image == null ? [] : ["arn:${local.partition}:ecr:${local.ecr_image[1]}:${local.ecr_image[0]}:repository/${local.ecr_image[2]}"]
  )

  config_object_arn = "${aws_s3_bucket.config.arn}/${var.config_object_key}"

  # Tables and indexes; see README "DynamoDB table" for what uses each index.
  dynamodb_indexes = {
    by_user    = { hash_key = "user_pk", range_key = "user_sk" }
    by_account = { hash_key = "account_pk", range_key = "account_sk" }
    by_due     = { hash_key = "due_pk", range_key = "due_sk" }
    by_month   = { hash_key = "month_pk", range_key = "month_sk" }
  }

  # Module-owned variables come last so var.environment cannot redirect the config source.
  container_environment = merge(
    var.environment,
    { LOG_LEVEL = var.log_level },
    var.config_poll_seconds == null ? {} : { CONFIG_POLL_SECONDS = tostring(var.config_poll_seconds) },
    var.slack_api_url == null ? {} : { SLACK_API_URL = var.slack_api_url },
    {
      AWS_REGION           = local.region
      BOT_CONFIG_S3_BUCKET = aws_s3_bucket.config.id
      BOT_CONFIG_S3_KEY    = var.config_object_key
      LOG_FORMAT           = "json"
    },
  )

  container_definition = {
    name      = local.container_name
    image     = var.container_image
    essential = true

    environment = [for k in sort(keys(local.container_environment)) : { name = k, value = local.container_environment[k] }]
    secrets = [for key in ["SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"] : {
      name      = key
      valueFrom = "${aws_secretsmanager_secret.slack.arn}:${key}::"
    }]

    # Socket Mode: outbound connections only, no port mappings.
    portMappings = []

    healthCheck = {
      command     = ["CMD", "cloud-access-bot", "health"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }

    # The bot drains within ~20 s of SIGTERM.
    stopTimeout = 30

    readonlyRootFilesystem = true
    mountPoints = [{
      sourceVolume  = "tmp"
      containerPath = "/tmp"
      readOnly      = false
    }]
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { add = [], drop = ["ALL"] }
    }

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "bot"
        mode                  = "non-blocking"
        max-buffer-size       = "25m"
      }
    }
  }
}

################################################################################
# ECS cluster, task definition and service
################################################################################

resource "aws_ecs_cluster" "this" {
  count = var.create_cluster ? 1 : 0

  name = var.name

  setting {
    name  = "containerInsights"
    value = var.cluster_container_insights
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:KMS is optional (var.cloudwatch_log_group_kms_key_id); CloudWatch Logs always encrypts at rest and the bot never logs secrets
  #checkov:skip=CKV_AWS_338:Retention is a variable; 90 days is the operational default and the audit trail lives in DynamoDB, not in logs
  name              = "/aws/ecs/${var.name}"
  retention_in_days = var.cloudwatch_log_group_retention_in_days
  kms_key_id        = var.cloudwatch_log_group_kms_key_id

  tags = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Writable /tmp (health file) on an otherwise read-only root filesystem. The image declares
  # VOLUME /tmp owned by the bot user, so Fargate gives the volume that ownership.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([local.container_definition])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name             = var.name
  cluster          = local.cluster_arn
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  # Rolling update: the new task must be healthy before the old one stops. Two replicas for a
  # short while are safe: every state transition is a conditional write, and IAM documents are
  # rewritten under a lease in the table.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  lifecycle {
    precondition {
      condition     = var.create_cluster || var.cluster_arn != null
      error_message = "Set cluster_arn when create_cluster is false."
    }
  }

  tags = var.tags
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "cloud-access-bot task: no ingress, HTTPS egress only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to Slack and the AWS APIs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.egress_cidr_blocks
  }

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# IAM: task role (what the bot itself may do)
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    sid     = "EcsTasks"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "task" {
  name                 = "${var.name}-task"
  description          = "cloud-access-bot task role: assumes the target-account roles, reads its config, keeps state in DynamoDB"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

locals {
  policies = "${path.module}/policies"
  # Each KMS key the task role may use, through which service: the optional parts of its policy.
  task_kms_keys = concat(
    var.dynamodb_kms_key_arn == null ? [] : [{
      sid     = "StateTableKey"
      key_arn = var.dynamodb_kms_key_arn
      service = "dynamodb"
      actions = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"]
    }],
    var.config_bucket_kms_key_arn == null ? [] : [{
      sid     = "ConfigKey"
      key_arn = var.config_bucket_kms_key_arn
      service = "s3"
      actions = ["kms:Decrypt"]
    }],
  )
  # policies/task-role.json.tftpl, rendered by the enforced-IAM tests (tests/iam/) too.
  # With organization_id, every account's role is matched by name and aws:ResourceOrgID (the
  # organisation can hold thousands of accounts, more than a policy can list); the exact ARNs
  # of target_account_role_arns may then be empty.
  # (Both or neither are set: see the preconditions of aws_iam_role_policy.task.)
  organization_statements = flatten([for enabled in(var.organization_id != null && var.organizations_reader_role_arn != null ? [true] : []) : jsondecode(templatefile("${local.policies}/task-role-organization.json.tftpl", {
    organization_role_arns        = "arn:${local.partition}:iam::*:role${var.organization_role_path}${var.organization_role_name}"
    organization_id               = var.organization_id
    organizations_reader_role_arn = var.organizations_reader_role_arn
  })).Statement])
  task_policy = jsonencode({
    Version = "2012-10-17"
    Statement = flatten([
      [for statement in jsondecode(templatefile("${local.policies}/task-role.json.tftpl", {
        target_account_role_arns = jsonencode(var.target_account_role_arns)
        table_arn                = aws_dynamodb_table.this.arn
        config_object_arn        = local.config_object_arn
      })).Statement : statement if statement.Sid != "AssumeTargetAccountRoles" || length(var.target_account_role_arns) > 0],
      local.organization_statements,
      [for key in local.task_kms_keys : jsondecode(templatefile("${local.policies}/task-role-kms.json.tftpl", {
        sid     = key.sid
        key_arn = key.key_arn
        service = key.service
        region  = local.region
        actions = jsonencode(key.actions)
      })).Statement],
      local.audit_archive_statements,
    ])
  })
}

resource "aws_iam_role_policy" "task" {
  name   = "cloud-access-bot"
  role   = aws_iam_role.task.id
  policy = local.task_policy

  lifecycle {
    precondition {
      condition     = length(var.target_account_role_arns) > 0 || var.organization_id != null
      error_message = "Set target_account_role_arns, organization_id, or both: the bot must be allowed to assume at least one account's role."
    }
    precondition {
      condition     = (var.organization_id == null) == (var.organizations_reader_role_arn == null)
      error_message = "Set organizations_reader_role_arn together with organization_id (the bot lists the organisation through that role), and neither without the other."
    }
  }
}

################################################################################
# IAM: task execution role (what ECS needs to start the task)
################################################################################

resource "aws_iam_role" "task_execution" {
  name                 = "${var.name}-task-execution"
  description          = "cloud-access-bot task execution role: pulls the image, writes logs, reads the Slack token secret"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = var.permissions_boundary

  tags = var.tags
}

data "aws_iam_policy_document" "task_execution" {
  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) > 0 ? [1] : []

    content {
      sid = "PullImage"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
      ]
      resources = local.ecr_repository_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) > 0 ? [1] : []

    content {
      sid       = "EcrLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "ReadSlackTokens"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.slack.arn]
  }

  dynamic "statement" {
    for_each = var.slack_secret_kms_key_id == null ? [] : [var.slack_secret_kms_key_id]

    content {
      sid       = "SlackTokensKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "cloud-access-bot-execution"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

################################################################################
# Slack tokens
################################################################################

resource "aws_secretsmanager_secret" "slack" {
  #checkov:skip=CKV2_AWS_57:Slack app-level and bot tokens cannot be rotated by a Secrets Manager rotation Lambda; they are rotated by hand in the Slack app settings (docs/deploy.md)
  name                    = coalesce(var.slack_secret_name, "${var.name}/slack-tokens")
  description             = "cloud-access-bot Slack tokens: JSON {\"SLACK_APP_TOKEN\": \"xapp-...\", \"SLACK_BOT_TOKEN\": \"xoxb-...\"}"
  kms_key_id              = var.slack_secret_kms_key_id
  recovery_window_in_days = var.slack_secret_recovery_window_in_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "slack" {
  count = var.create_slack_secret_version ? 1 : 0

  secret_id = aws_secretsmanager_secret.slack.id
  secret_string = jsonencode({
    SLACK_APP_TOKEN = var.slack_app_token
    SLACK_BOT_TOKEN = var.slack_bot_token
  })

  lifecycle {
    precondition {
      condition     = var.slack_app_token != null && var.slack_bot_token != null
      error_message = "Set slack_app_token and slack_bot_token when create_slack_secret_version is true."
    }
  }
}

################################################################################
# DynamoDB state table
################################################################################

resource "aws_dynamodb_table" "this" {
  name         = var.dynamodb_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  dynamic "attribute" {
    for_each = toset(flatten([for index in values(local.dynamodb_indexes) : [index.hash_key, index.range_key]]))

    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.dynamodb_indexes

    content {
      name            = global_secondary_index.key
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = "ALL"
    }
  }

  # Expires only old audit rows past retention. Grants are never revoked through TTL (deletion
  # can lag by days): IAM conditions end access on time and the bot's sweeper cleans up.
  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.dynamodb_kms_key_arn
  }

  deletion_protection_enabled = true

  tags = var.tags
}

################################################################################
# S3 config bucket
################################################################################

resource "aws_s3_bucket" "config" {
  #checkov:skip=CKV_AWS_18:One small object read by one role; access is audited by CloudTrail (enable S3 data events there if required) rather than a second log bucket owned by this module
  #checkov:skip=CKV_AWS_144:The config is small, versioned and kept in source control; cross-region replication adds a second bucket for no recovery benefit
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: the bot polls the object (CONFIG_POLL_SECONDS)
  bucket        = var.config_bucket_name
  bucket_prefix = var.config_bucket_name == null ? "${lower(substr(var.name, 0, 29))}-config-" : null
  force_destroy = var.config_bucket_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "config" {
  bucket = aws_s3_bucket.config.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "config" {
  bucket = aws_s3_bucket.config.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "config" {
  bucket = aws_s3_bucket.config.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "config" {
  bucket = aws_s3_bucket.config.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.config_bucket_kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.config_bucket_kms_key_arn
    }
    bucket_key_enabled = var.config_bucket_kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "config" {
  bucket = aws_s3_bucket.config.id

  rule {
    id     = "old-config-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.config_bucket_noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.config]
}

data "aws_iam_policy_document" "config_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.config.arn, "${aws_s3_bucket.config.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOutdatedTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.config.arn, "${aws_s3_bucket.config.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "config" {
  bucket = aws_s3_bucket.config.id
  policy = data.aws_iam_policy_document.config_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.config]
}

resource "aws_s3_object" "config" {
  count = var.config_file_path == null ? 0 : 1

  bucket       = aws_s3_bucket.config.id
  key          = var.config_object_key
  source       = var.config_file_path
  content_type = "application/yaml"
  # With SSE-KMS the ETag is not the MD5 of the content, so track changes with source_hash.
  etag        = var.config_bucket_kms_key_arn == null ? filemd5(var.config_file_path) : null
  source_hash = var.config_bucket_kms_key_arn == null ? null : filemd5(var.config_file_path)

  tags = var.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.config]
}
