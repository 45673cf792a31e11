"""Metrics as CloudWatch Embedded Metric Format lines on stdout, with aws-embedded-metrics.

On Fargate the awslogs driver ships stdout to CloudWatch Logs, which extracts EMF documents
into metrics: no agent. aws-embedded-metrics (awslabs, maintained, async, no dependency beyond
aiohttp) would otherwise probe EC2's metadata service and send to a CloudWatch agent over TCP
when not on Lambda, so its environment is set to ``local``, whose sink writes each document as
one line on stdout. Its defaults add the dimensions LogGroup, ServiceName and ServiceType to
every metric; they are replaced by the point's own (none for SweepSucceeded and GrantFailures,
which the Terraform alarms select by name alone).
"""

from __future__ import annotations

from aws_embedded_metrics.config import get_config
from aws_embedded_metrics.logger.metrics_logger_factory import create_metrics_logger

from cloud_access_bot.metrics import NAMESPACE, Point


class EmfSink:
    def __init__(self, namespace: str = NAMESPACE) -> None:
        self._namespace = namespace
        get_config().environment = "local"

    def write(self, points: list[Point]) -> None:
        for point in points:
            metrics = create_metrics_logger()
            metrics.set_namespace(self._namespace)
            metrics.set_dimensions(point.dimensions, use_default=False)
            metrics.put_metric(point.name, point.value, point.unit)
            metrics.flush_sync()
