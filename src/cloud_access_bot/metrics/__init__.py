"""Metrics: what each lifecycle event, sweep, Slack error and ack counts as (pure), and the
adapters that write them (``emf``: CloudWatch Embedded Metric Format on stdout; ``prometheus``:
an optional scrape endpoint). docs/metrics.md documents every name."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cloud_access_bot.domain.model import AccessRequest, EventType

NAMESPACE = "CloudAccessBot"

COUNT = "Count"
MILLISECONDS = "Milliseconds"

#: Every metric: name → (unit, help text). The Terraform alarms use SweepSucceeded and
#: GrantFailures by name: keep those two exactly.
METRICS: dict[str, tuple[str, str]] = {
    "Requests": (COUNT, "requests by outcome (dimension Outcome)"),
    "Approvals": (COUNT, "approvals recorded (each approver of an N-of-M request counts)"),
    "Grants": (COUNT, "grants written to AWS (request became ACTIVE)"),
    "GrantFailures": (COUNT, "grants AWS or a pre-flight check refused (request FAILED)"),
    "Expiries": (COUNT, "grants removed by the sweeper at their end"),
    "Revocations": (COUNT, "grants ended early by a person"),
    "Extensions": (COUNT, "grants extended"),
    "RevocationLag": (MILLISECONDS, "from a grant's end to its removal being recorded"),
    "SweepDuration": (MILLISECONDS, "one sweep, successful or not"),
    "SweepSucceeded": (COUNT, "sweeps that completed"),
    "SweepFailed": (COUNT, "sweeps that raised"),
    "SlackApiErrors": (COUNT, "Web API calls answering an error (dimension Error)"),
    "SlackRateLimited": (COUNT, "Web API calls answered with HTTP 429"),
    "AckLatency": (MILLISECONDS, "from a Socket Mode envelope's arrival to its ack"),
    "OutboxDelivered": (COUNT, "audit events delivered from the outbox (dimension Destination)"),
    "OutboxFailed": (COUNT, "outbox deliveries that failed, retried later (dimension Destination)"),
}

#: The Outcome dimension of ``Requests`` for each event that decides or opens a request.
OUTCOMES: dict[EventType, str] = {
    EventType.REQUESTED: "submitted",
    EventType.APPROVED: "approved",
    EventType.AUTO_APPROVED: "auto_approved",
    EventType.DENIED: "denied",
    EventType.CANCELLED: "cancelled",
    EventType.TIMED_OUT: "timed_out",
}

_COUNTED: dict[EventType, tuple[str, ...]] = {
    EventType.APPROVAL_ADDED: ("Approvals",),
    EventType.APPROVED: ("Approvals",),
    EventType.GRANTED: ("Grants",),
    EventType.GRANT_FAILED: ("GrantFailures",),
    EventType.EXPIRED: ("Expiries",),
    EventType.REVOKED: ("Revocations",),
    EventType.EXTENDED: ("Extensions",),
}


@dataclass(frozen=True)
class Point:
    """One measurement: a metric of METRICS, its value and its dimensions."""

    name: str
    value: float = 1.0
    dimensions: dict[str, str] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return METRICS[self.name][0]


def event_points(event: EventType, request: AccessRequest, at: datetime) -> list[Point]:
    """What a stored lifecycle event counts as."""
    points = [Point(name) for name in _COUNTED.get(event, ())]
    if event in OUTCOMES:
        points.append(Point("Requests", dimensions={"Outcome": OUTCOMES[event]}))
    if event is EventType.EXPIRED and request.expires_at is not None:
        lag = max(0.0, (at - request.expires_at).total_seconds() * 1000)
        points.append(Point("RevocationLag", lag))
    return points


def sweep_points(seconds: float, *, ok: bool) -> list[Point]:
    return [
        Point("SweepDuration", seconds * 1000),
        Point("SweepSucceeded" if ok else "SweepFailed"),
    ]


def slack_points(method: str, error: str) -> list[Point]:
    if error == "ratelimited":
        return [Point("SlackRateLimited", dimensions={"Method": method})]
    return [Point("SlackApiErrors", dimensions={"Error": error})]


def outbox_points(destination: str, *, delivered: int, failed: int) -> list[Point]:
    where = {"Destination": destination}
    return [
        Point(name, count, where)
        for name, count in (("OutboxDelivered", delivered), ("OutboxFailed", failed))
        if count
    ]


class Sink(Protocol):
    def write(self, points: list[Point]) -> None: ...


class Recorder:
    """The Metrics port on one or more sinks (EMF, Prometheus); none writes nothing."""

    def __init__(self, *sinks: Sink) -> None:
        self._sinks = sinks

    def _write(self, points: list[Point]) -> None:
        for sink in self._sinks:
            sink.write(points)

    def recorded(self, event: EventType, request: AccessRequest, at: datetime) -> None:
        self._write(event_points(event, request, at))

    def swept(self, seconds: float, *, ok: bool) -> None:
        self._write(sweep_points(seconds, ok=ok))

    def slack_failed(self, method: str, error: str) -> None:
        self._write(slack_points(method, error))

    def acked(self, milliseconds: float) -> None:
        self._write([Point("AckLatency", milliseconds)])

    def delivered(self, destination: str, *, delivered: int, failed: int) -> None:
        self._write(outbox_points(destination, delivered=delivered, failed=failed))
