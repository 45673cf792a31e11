"""What each event, sweep and Slack error counts as, and how the two sinks write it."""

from __future__ import annotations

import io
import json
import urllib.request
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from cloud_access_bot.domain.model import EventType
from cloud_access_bot.metrics import METRICS, Point, Recorder, event_points
from cloud_access_bot.metrics.emf import EmfSink
from cloud_access_bot.metrics.prometheus import PrometheusSink
from tests.unit.test_approval import WHEN, make_request


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (EventType.REQUESTED, [Point("Requests", dimensions={"Outcome": "submitted"})]),
        (EventType.APPROVAL_ADDED, [Point("Approvals")]),
        (
            EventType.APPROVED,
            [Point("Approvals"), Point("Requests", dimensions={"Outcome": "approved"})],
        ),
        (EventType.AUTO_APPROVED, [Point("Requests", dimensions={"Outcome": "auto_approved"})]),
        (EventType.DENIED, [Point("Requests", dimensions={"Outcome": "denied"})]),
        (EventType.TIMED_OUT, [Point("Requests", dimensions={"Outcome": "timed_out"})]),
        (EventType.GRANTED, [Point("Grants")]),
        (EventType.GRANT_FAILED, [Point("GrantFailures")]),
        (EventType.REMINDED, []),
    ],
)
def test_events_count_as(event: EventType, expected: list[Point]) -> None:
    assert event_points(event, make_request(), WHEN) == expected


def test_an_expiry_measures_how_late_the_removal_was() -> None:
    request = make_request(expires_at=WHEN)

    points = event_points(EventType.EXPIRED, request, WHEN + timedelta(seconds=4))

    assert points == [Point("Expiries"), Point("RevocationLag", 4000.0)]


def emf(*points: Point) -> list[dict[str, object]]:
    out = io.StringIO()
    with redirect_stdout(out):
        EmfSink().write(list(points))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_alarmed_metrics_are_emf_without_dimensions() -> None:
    """The Terraform alarms select SweepSucceeded and GrantFailures by name alone."""
    for document in emf(Point("SweepSucceeded"), Point("GrantFailures")):
        [directive] = document["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
        assert directive["Namespace"] == "CloudAccessBot"
        assert directive["Dimensions"] == [[]]
        assert set(document) == {"_aws", directive["Metrics"][0]["Name"]}


def test_a_dimension_is_a_property_of_the_emf_document() -> None:
    [document] = emf(Point("Requests", dimensions={"Outcome": "denied"}))

    [directive] = document["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert directive["Dimensions"] == [["Outcome"]]
    assert directive["Metrics"] == [{"Name": "Requests", "Unit": "Count"}]
    assert document["Outcome"] == "denied"
    assert document["Requests"] == 1.0


def test_prometheus_counts_and_times_in_seconds() -> None:
    sink = PrometheusSink()
    recorder = Recorder(sink)
    recorder.swept(0.2, ok=True)
    recorder.slack_failed("chat.postMessage", "ratelimited")
    recorder.slack_failed("views.open", "invalid_trigger_id")

    text = generate_latest(sink.registry).decode()

    assert "cloud_access_bot_sweep_succeeded_total 1.0" in text
    assert 'cloud_access_bot_sweep_duration_seconds_bucket{le="0.25"} 1.0' in text
    assert 'cloud_access_bot_slack_rate_limited_total{Method="chat.postMessage"} 1.0' in text
    assert 'cloud_access_bot_slack_api_errors_total{Error="invalid_trigger_id"} 1.0' in text


def test_every_metric_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    for name in METRICS:
        assert f"`{name}`" in doc, name


def test_the_prometheus_endpoint_serves_the_metrics(unused_tcp_port: int) -> None:
    sink = PrometheusSink()
    sink.serve(unused_tcp_port, address="127.0.0.1")
    Recorder(sink).recorded(EventType.GRANT_FAILED, make_request(), WHEN)

    with urllib.request.urlopen(f"http://127.0.0.1:{unused_tcp_port}/metrics", timeout=5) as r:
        text = r.read().decode()

    assert "cloud_access_bot_grant_failures_total 1.0" in text
