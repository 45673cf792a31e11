################################################################################
# General
################################################################################

variable "name" {
  description = "Name used for every resource this module creates (cluster, service, roles, log group, secret prefix)"
  type        = string
  default     = "cloud-access-bot"

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters: letters, digits and hyphens."
  }
}

variable "tags" {
  description = "Tags added to every resource"
  type        = map(string)
  default     = {}
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy set on the task and task execution roles"
  type        = string
  default     = null
}

################################################################################
# Network
################################################################################

variable "vpc_id" {
  description = "VPC in which the task runs"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task. They need a route to Slack and the AWS APIs over HTTPS (NAT gateway or VPC endpoints plus NAT for Slack); the task gets no public IP"
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "At least one subnet is required."
  }
}

variable "egress_cidr_blocks" {
  description = "IPv4 ranges the task may reach on TCP 443 (Slack, AWS APIs). The security group allows no ingress and no other egress"
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

################################################################################
# ECS
################################################################################

variable "create_cluster" {
  description = "Create an ECS cluster. Set to false and pass cluster_arn to run the service on an existing cluster"
  type        = bool
  default     = true
}

variable "cluster_arn" {
  description = "ARN of an existing ECS cluster (used when create_cluster is false)"
  type        = string
  default     = null
}

variable "cluster_container_insights" {
  description = "Container Insights setting of the created cluster: enabled, enhanced or disabled"
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced", "disabled"], var.cluster_container_insights)
    error_message = "cluster_container_insights must be enabled, enhanced or disabled."
  }
}

variable "container_image" {
  description = "Container image of the bot, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/cloud-access-bot:1.2.3 (pin a tag or digest, not latest)"
  type        = string
}

variable "ecr_repository_arns" {
  description = "ECR repositories the task execution role may pull from. Empty: derived from container_image when it is an ECR image"
  type        = list(string)
  default     = []
}

variable "cpu" {
  description = "Task CPU units"
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory (MiB)"
  type        = number
  default     = 512
}

variable "cpu_architecture" {
  description = "CPU architecture of the task: X86_64 or ARM64 (the image must be built for it)"
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "desired_count" {
  description = "Number of bot tasks. The bot is safe to run with several replicas (all state transitions are conditional writes)"
  type        = number
  default     = 1
}

variable "log_level" {
  description = "LOG_LEVEL of the bot (DEBUG, INFO, WARNING, ERROR)"
  type        = string
  default     = "INFO"
}

variable "config_poll_seconds" {
  description = "CONFIG_POLL_SECONDS: how often the bot re-reads its config from S3. Null keeps the bot's default"
  type        = number
  default     = null
}

variable "slack_api_url" {
  description = "SLACK_API_URL (e.g. for GovSlack). Null keeps the bot's default https://slack.com/api/"
  type        = string
  default     = null
}

variable "environment" {
  description = "Extra environment variables for the container (must not contain secrets)"
  type        = map(string)
  default     = {}
}

################################################################################
# CloudWatch Logs
################################################################################

variable "cloudwatch_log_group_retention_in_days" {
  description = "Retention of the bot's log group, in days"
  type        = number
  default     = 90
}

variable "cloudwatch_log_group_kms_key_id" {
  description = "ARN of a KMS key encrypting the log group (its key policy must allow logs.<region>.amazonaws.com). Null: CloudWatch Logs default encryption"
  type        = string
  default     = null
}

################################################################################
# Slack tokens (Secrets Manager)
################################################################################

variable "slack_secret_name" {
  description = "Name of the Secrets Manager secret holding {\"SLACK_APP_TOKEN\": \"xapp-...\", \"SLACK_BOT_TOKEN\": \"xoxb-...\"}. Default: <name>/slack-tokens"
  type        = string
  default     = null
}

variable "slack_secret_kms_key_id" {
  description = "ARN of a KMS key encrypting the Slack token secret. Null: the AWS managed key aws/secretsmanager"
  type        = string
  default     = null
}

variable "slack_secret_recovery_window_in_days" {
  description = "Days Secrets Manager keeps the secret after deletion (0 deletes at once)"
  type        = number
  default     = 7
}

variable "create_slack_secret_version" {
  description = "Write slack_app_token and slack_bot_token into the secret from Terraform. Off by default: the token values would be stored in the Terraform state; ops put them in with the AWS CLI instead"
  type        = bool
  default     = false
}

variable "slack_app_token" {
  description = "App-level token (xapp-..., scope connections:write). Used only when create_slack_secret_version is true"
  type        = string
  default     = null
  sensitive   = true
}

variable "slack_bot_token" {
  description = "Bot token (xoxb-...). Used only when create_slack_secret_version is true"
  type        = string
  default     = null
  sensitive   = true
}

################################################################################
# DynamoDB
################################################################################

variable "dynamodb_table_name" {
  description = "Name of the bot's DynamoDB table. Must equal dynamoDbTable in the bot's YAML config"
  type        = string
  default     = "cloud_access_bot"
}

variable "dynamodb_kms_key_arn" {
  description = "ARN of a KMS key for the table's server-side encryption. Null: the AWS managed key aws/dynamodb"
  type        = string
  default     = null
}

################################################################################
# S3 config
################################################################################

variable "config_bucket_name" {
  description = "Name of the S3 bucket holding the bot's YAML config. Null: a generated name starting with <name>-config-"
  type        = string
  default     = null
}

variable "config_object_key" {
  description = "Key of the YAML config object (BOT_CONFIG_S3_KEY)"
  type        = string
  default     = "config.yml"
}

variable "config_file_path" {
  description = "Local path of a YAML config file to upload as the config object. Null: the object is managed outside Terraform (aws s3 cp)"
  type        = string
  default     = null
}

variable "config_bucket_kms_key_arn" {
  description = "ARN of a KMS key for the config bucket's default encryption. Null: SSE-S3 (AES256)"
  type        = string
  default     = null
}

variable "config_bucket_noncurrent_version_expiration_days" {
  description = "Days after which replaced versions of the config object are deleted"
  type        = number
  default     = 365
}

variable "config_bucket_force_destroy" {
  description = "Allow Terraform to delete the config bucket while it still holds objects"
  type        = bool
  default     = false
}

################################################################################
# Cross-account access
################################################################################

variable "target_account_role_arns" {
  description = "ARNs of the roles the bot assumes in the target accounts (the accounts' iam_role in the bot config; see modules/target-account-role). May be empty with organization_id"
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.target_account_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn))])
    error_message = "target_account_role_arns must be IAM role ARNs."
  }
}

variable "organization_id" {
  description = "ID of the AWS organisation whose accounts the bot takes from Organizations (organizations in the bot config): the task role may then assume the role organization_role_path + organization_role_name in any account of this organisation, and no other. Null: only target_account_role_arns"
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must look like o-<10 to 32 lowercase letters or digits>."
  }
}

variable "organization_role_name" {
  description = "Name of the bot's role in every organisation account (the role in organizations.role_template; modules/target-account-role's name)"
  type        = string
  default     = "cloud-access-bot"

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.organization_role_name))
    error_message = "organization_role_name must be an IAM role name: 1 to 64 letters, digits or +=,.@_-."
  }
}

variable "organization_role_path" {
  description = "IAM path of the bot's role in every organisation account, / or /<path>/"
  type        = string
  default     = "/"

  validation {
    condition     = can(regex("^/([\\w+=,.@-]+/)*$", var.organization_role_path))
    error_message = "organization_role_path must be / or start and end with / (for example /cloud-access-bot/)."
  }
}

variable "organizations_reader_role_arn" {
  description = "ARN of the role that lists the organisation (organizations.iam_role in the bot config; modules/organizations-reader-role). Required with organization_id"
  type        = string
  default     = null

  validation {
    condition     = var.organizations_reader_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.organizations_reader_role_arn))
    error_message = "organizations_reader_role_arn must be an IAM role ARN."
  }
}

################################################################################
# Alarms
################################################################################

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires and when it clears. Null: no alarms are created"
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the bot's metrics (Embedded Metric Format log lines)"
  type        = string
  default     = "CloudAccessBot"
}

variable "alarm_sweeper_stalled_minutes" {
  description = "Minutes without a successful sweep before the sweeper-stalled alarm fires (the sweeper runs every sweep_interval_seconds, 15 s by default)"
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_sweeper_stalled_minutes >= 2 && var.alarm_sweeper_stalled_minutes <= 60
    error_message = "alarm_sweeper_stalled_minutes must be between 2 and 60."
  }
}

variable "alarm_grant_failures_threshold" {
  description = "Failed grants within 5 minutes that fire the grant-failures alarm"
  type        = number
  default     = 1
}

variable "alarm_task_unhealthy_minutes" {
  description = "Minutes with fewer running tasks than desired_count before the task-unhealthy alarm fires"
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_task_unhealthy_minutes >= 1 && var.alarm_task_unhealthy_minutes <= 60
    error_message = "alarm_task_unhealthy_minutes must be between 1 and 60."
  }
}

################################################################################
# Audit archive and event bus (audit_archive.tf)
################################################################################

variable "audit_archive_bucket_name" {
  description = "S3 bucket for the JSON Lines audit archive (config audit_archive.bucket); null: no archive"
  type        = string
  default     = null
}

variable "audit_archive_prefix" {
  description = "Key prefix of the archive's objects (config audit_archive.prefix), ending in / or empty"
  type        = string
  default     = "events/"

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+/)*$", var.audit_archive_prefix))
    error_message = "audit_archive_prefix must be empty or end in / (e.g. events/)."
  }
}

variable "audit_archive_kms_key_arn" {
  description = "KMS key encrypting the archive and Athena results; null: the module creates one"
  type        = string
  default     = null
}

variable "audit_archive_object_lock_days" {
  description = "Object Lock retention in COMPLIANCE mode, in days (nobody can delete an event before); null: no Object Lock. Enabling it later needs a new bucket."
  type        = number
  default     = null

  validation {
    condition     = var.audit_archive_object_lock_days == null || try(var.audit_archive_object_lock_days >= 1, false)
    error_message = "audit_archive_object_lock_days must be at least 1, or null."
  }
}

variable "audit_archive_infrequent_access_days" {
  description = "Days after which archive objects move to STANDARD_IA"
  type        = number
  default     = 30

  validation {
    condition     = var.audit_archive_infrequent_access_days >= 30
    error_message = "audit_archive_infrequent_access_days must be at least 30 (S3's minimum for STANDARD_IA)."
  }
}

variable "audit_archive_glacier_days" {
  description = "Days after which archive objects move to GLACIER_IR (still queryable by Athena)"
  type        = number
  default     = 180

  validation {
    condition     = var.audit_archive_glacier_days >= 60
    error_message = "audit_archive_glacier_days must be at least 60 (30 days after STANDARD_IA)."
  }
}

variable "event_bus_name" {
  description = "EventBridge bus the module creates for the bot's state-change events (config event_bus); null: none"
  type        = string
  default     = null
}
