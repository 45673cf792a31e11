"""The same metrics for a Prometheus scrape (METRICS_PORT), with prometheus-client.

Counts become counters (``cloud_access_bot_<name>_total``), durations histograms in seconds
(``cloud_access_bot_<name>_seconds``), dimensions labels. The endpoint is prometheus-client's
own HTTP server, in a thread of its own.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from cloud_access_bot.metrics import METRICS, MILLISECONDS, Point

#: Seconds: from a fast ack to a slow sweep.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class PrometheusSink:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._series: dict[str, Counter | Histogram] = {}

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        start_http_server(port, addr=address, registry=self.registry)

    def write(self, points: list[Point]) -> None:
        for point in points:
            series = self._series.get(point.name) or self._create(point)
            child = series.labels(**point.dimensions) if point.dimensions else series
            if isinstance(child, Histogram):
                child.observe(point.value / 1000)
            else:
                child.inc(point.value)

    def _create(self, point: Point) -> Counter | Histogram:
        name = f"cloud_access_bot_{_snake(point.name)}"
        labels = sorted(point.dimensions)
        description = METRICS[point.name][1]
        series: Counter | Histogram
        if point.unit == MILLISECONDS:
            series = Histogram(
                f"{name}_seconds", description, labels, registry=self.registry, buckets=BUCKETS
            )
        else:
            series = Counter(name, description, labels, registry=self.registry)
        self._series[point.name] = series
        return series
