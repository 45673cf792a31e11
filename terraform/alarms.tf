################################################################################
# CloudWatch alarms (on when alarm_sns_topic_arn is set)
################################################################################

locals {
  alarms       = var.alarm_sns_topic_arn == null ? {} : { on = var.alarm_sns_topic_arn }
  cluster_name = var.create_cluster ? aws_ecs_cluster.this[0].name : try(regex("[^/]+$", var.cluster_arn), null)
}

# The bot writes its metrics as CloudWatch Embedded Metric Format log lines; CloudWatch Logs
# turns them into metrics of namespace var.metrics_namespace, without an agent.
resource "aws_cloudwatch_metric_alarm" "sweeper_stalled" {
  for_each = local.alarms

  alarm_name        = "${var.name}-sweeper-stalled"
  alarm_description = "No successful sweep for ${var.alarm_sweeper_stalled_minutes} minutes: grants are not expired on time (IAM conditions still end them) and pending requests do not time out. Check the task's logs."
  namespace         = var.metrics_namespace
  metric_name       = "SweepSucceeded"
  statistic         = "Sum"
  period            = 60
  # Every minute of the window without a sweep: 1 sweep in any minute clears it.
  evaluation_periods  = var.alarm_sweeper_stalled_minutes
  datapoints_to_alarm = var.alarm_sweeper_stalled_minutes
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  # No data is what a stopped sweeper (or a stopped task) looks like.
  treat_missing_data = "breaching"

  alarm_actions = [each.value]
  ok_actions    = [each.value]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "grant_failures" {
  for_each = local.alarms

  alarm_name          = "${var.name}-grant-failures"
  alarm_description   = "At least ${var.alarm_grant_failures_threshold} approved grant(s) failed to be written within 5 minutes (AWS refused or kept failing). The requester and approver were told; look for grant errors in the task's logs."
  namespace           = var.metrics_namespace
  metric_name         = "GrantFailures"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.alarm_grant_failures_threshold
  treat_missing_data  = "notBreaching"

  alarm_actions = [each.value]
  ok_actions    = [each.value]

  tags = var.tags
}

# ECS replaces a task whose health check (`cloud-access-bot health`: Socket Mode connected,
# sweeper recent) fails, so an unhealthy bot shows as fewer running tasks than desired.
# Needs Container Insights on the cluster (cluster_container_insights, on by default).
resource "aws_cloudwatch_metric_alarm" "task_unhealthy" {
  for_each = var.desired_count > 0 ? local.alarms : {}

  alarm_name          = "${var.name}-task-unhealthy"
  alarm_description   = "Fewer than ${var.desired_count} healthy bot task(s) for ${var.alarm_task_unhealthy_minutes} minutes: Slack requests go unanswered. Check the service's events and stopped tasks."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = var.alarm_task_unhealthy_minutes
  datapoints_to_alarm = var.alarm_task_unhealthy_minutes
  comparison_operator = "LessThanThreshold"
  threshold           = var.desired_count
  treat_missing_data  = "breaching"

  dimensions = {
    ClusterName = local.cluster_name
    ServiceName = aws_ecs_service.this.name
  }

  alarm_actions = [each.value]
  ok_actions    = [each.value]

  tags = var.tags
}
