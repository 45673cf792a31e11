################################################################################
# Audit archive (optional): every audit event as JSON Lines in S3, queried with Athena, and
# state changes on an EventBridge bus. The bot writes both from its outbox (docs/audit.md).
################################################################################

locals {
  audit_archive  = var.audit_archive_bucket_name != null
  archive_key    = local.audit_archive && var.audit_archive_kms_key_arn == null
  archive_kms    = local.audit_archive ? coalesce(var.audit_archive_kms_key_arn, try(aws_kms_key.audit_archive[0].arn, null)) : null
  archive_prefix = var.audit_archive_prefix
  event_bus      = var.event_bus_name != null

  # Statements added to the task role: delete delivered outbox items (only those keys), put
  # archive objects under the prefix (and encrypt them), put events on the bus.
  outbox_statements = flatten([for enabled in((local.audit_archive || local.event_bus) ? [true] : []) : jsondecode(templatefile("${local.policies}/task-role-outbox.json.tftpl", {
    table_arn = aws_dynamodb_table.this.arn
  })).Statement])
  archive_statements = flatten([for enabled in((local.audit_archive) ? [true] : []) : jsondecode(templatefile("${local.policies}/task-role-audit-archive.json.tftpl", {
    objects_arn = "${aws_s3_bucket.audit_archive[0].arn}/${local.archive_prefix}*"
    key_arn     = local.archive_kms
    region      = local.region
  })).Statement])
  event_bus_statements = flatten([for enabled in((local.event_bus) ? [true] : []) : jsondecode(templatefile("${local.policies}/task-role-event-bus.json.tftpl", {
    bus_arn = aws_cloudwatch_event_bus.audit[0].arn
  })).Statement])
  audit_archive_statements = concat(local.outbox_statements, local.archive_statements, local.event_bus_statements)

  # The archive record (src/cloud_access_bot/domain/archive.py COLUMNS), in order.
  archive_columns = [
    { name = "event_id", type = "string", comment = "<request_id>#<seq>: duplicates share it" },
    { name = "request_id", type = "string", comment = "" },
    { name = "seq", type = "int", comment = "position in the request's hash chain, from 1" },
    { name = "type", type = "string", comment = "REQUESTED, APPROVED, GRANTED, REVOKED, EXPIRED, USAGE_REVIEWED, ..." },
    { name = "actor", type = "string", comment = "Slack user id, or bot" },
    { name = "at", type = "string", comment = "ISO-8601 UTC (from_iso8601_timestamp)" },
    { name = "status", type = "string", comment = "the request's status after the event" },
    { name = "details", type = "string", comment = "canonical JSON (json_extract_scalar)" },
    { name = "prev_hash", type = "string", comment = "" },
    { name = "hash", type = "string", comment = "sha256 over the event and prev_hash" },
    { name = "sealed", type = "string", comment = "canonical JSON: digests of the attributes written" },
    { name = "account_id", type = "string", comment = "" },
    { name = "account_name", type = "string", comment = "" },
    { name = "requester_id", type = "string", comment = "" },
    { name = "requester_email", type = "string", comment = "" },
    { name = "login_role", type = "string", comment = "" },
    { name = "reason", type = "string", comment = "" },
    { name = "starts_at", type = "string", comment = "grant start, ISO-8601 or empty" },
    { name = "expires_at", type = "string", comment = "grant end, ISO-8601 or empty" },
    { name = "approvals", type = "array<string>", comment = "" },
    { name = "decided_by", type = "string", comment = "" },
    { name = "actions", type = "array<string>", comment = "IAM actions requested" },
    { name = "resources", type = "array<string>", comment = "" },
    { name = "break_glass", type = "boolean", comment = "approved by break-glass" },
  ]
}

resource "aws_kms_key" "audit_archive" {
  #checkov:skip=CKV2_AWS_64:The default key policy delegates to IAM in this account; the task role's policy (terraform/policies) allows only GenerateDataKey/Decrypt on this key
  count = local.archive_key ? 1 : 0

  description         = "cloud-access-bot audit archive"
  enable_key_rotation = true

  tags = var.tags
}

resource "aws_s3_bucket" "audit_archive" {
  #checkov:skip=CKV_AWS_18:Writes come from one role and are audited by CloudTrail (enable S3 data events there if required) rather than a second log bucket owned by this module
  #checkov:skip=CKV_AWS_144:Cross-region replication is the operator's choice (it needs a second bucket and key in another region); versioning and optional Object Lock protect the objects here
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: Athena reads the partitions by projection
  count = local.audit_archive ? 1 : 0

  bucket              = var.audit_archive_bucket_name
  object_lock_enabled = var.audit_archive_object_lock_days != null

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "audit_archive" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.audit_archive[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "audit_archive" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.audit_archive[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "audit_archive" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.audit_archive[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit_archive" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.audit_archive[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.archive_kms
    }
    bucket_key_enabled = true
  }
}

# Compliance mode: no one, the root user included, can delete or overwrite an archived event
# before its retention ends.
resource "aws_s3_bucket_object_lock_configuration" "audit_archive" {
  count  = local.audit_archive && var.audit_archive_object_lock_days != null ? 1 : 0
  bucket = aws_s3_bucket.audit_archive[0].id

  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.audit_archive_object_lock_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.audit_archive]
}

resource "aws_s3_bucket_lifecycle_configuration" "audit_archive" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.audit_archive[0].id

  rule {
    id     = "cheaper-storage"
    status = "Enabled"

    filter {
      prefix = local.archive_prefix
    }

    transition {
      days          = var.audit_archive_infrequent_access_days
      storage_class = "STANDARD_IA"
    }

    transition {
      days          = var.audit_archive_glacier_days
      storage_class = "GLACIER_IR"
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.audit_archive]
}

data "aws_iam_policy_document" "audit_archive_bucket" {
  count = local.audit_archive ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.audit_archive[0].arn, "${aws_s3_bucket.audit_archive[0].arn}/*"]

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
}

resource "aws_s3_bucket_policy" "audit_archive" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.audit_archive[0].id
  policy = data.aws_iam_policy_document.audit_archive_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.audit_archive]
}

# Athena: results in their own bucket (the archive's Object Lock would keep them forever).
resource "aws_s3_bucket" "athena_results" {
  #checkov:skip=CKV_AWS_18:Query results only, written by Athena and expired after 30 days
  #checkov:skip=CKV_AWS_144:Query results can be recomputed from the archive; no replication
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events
  #checkov:skip=CKV_AWS_21:Query results expire after 30 days; versions would only keep them longer
  #checkov:skip=CKV_AWS_145:The workgroup makes Athena encrypt every result with the archive's KMS key (SSE_KMS, enforced)
  count = local.audit_archive ? 1 : 0

  bucket = "${var.audit_archive_bucket_name}-athena"

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "athena_results" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.athena_results[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "athena_results" {
  count  = local.audit_archive ? 1 : 0
  bucket = aws_s3_bucket.athena_results[0].id

  rule {
    id     = "expire-results"
    status = "Enabled"

    filter {}

    expiration {
      days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_glue_catalog_database" "audit" {
  count = local.audit_archive ? 1 : 0

  name = replace("${var.name}_audit", "-", "_")
}

# Partition projection on dt: new days are queryable at once, no crawler or MSCK REPAIR.
resource "aws_glue_catalog_table" "audit_events" {
  count = local.audit_archive ? 1 : 0

  name          = "events"
  database_name = aws_glue_catalog_database.audit[0].name
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "classification"              = "json"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "2024-01-01,NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "storage.location.template"   = "s3://${aws_s3_bucket.audit_archive[0].id}/${local.archive_prefix}dt=$${dt}/"
  }

  partition_keys {
    name = "dt"
    type = "string"
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.audit_archive[0].id}/${local.archive_prefix}"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    ser_de_info {
      serialization_library = "org.openx.data.jsonserde.JsonSerDe"
    }

    dynamic "columns" {
      for_each = local.archive_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

resource "aws_athena_workgroup" "audit" {
  count = local.audit_archive ? 1 : 0

  name = "${var.name}-audit"

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true

    result_configuration {
      output_location = "s3://${aws_s3_bucket.athena_results[0].id}/results/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = local.archive_kms
      }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_event_bus" "audit" {
  count = local.event_bus ? 1 : 0

  name = var.event_bus_name

  tags = var.tags
}
