"""State changes as EventBridge events (docs/audit.md "Events").

``source`` is ``cloud-access-bot``; ``detail-type`` is ``Access`` and the event type in
words (REQUESTED → AccessRequested, APPROVAL_ADDED → AccessApprovalAdded, GRANTED →
AccessGranted, …); ``detail`` is the archive record (domain.archive) with ``details`` as an
object rather than text and without the seals. The record holds no secret: credentials and
sign-in links go to the requester in Slack and are never part of an event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.domain import archive
from cloud_access_bot.domain.model import parse_iso

SOURCE = "cloud-access-bot"


def detail_type(event_type: str) -> str:
    return "Access" + "".join(word.capitalize() for word in event_type.split("_"))


def detail(record: archive.Record) -> dict[str, Any]:
    """What consumers get: the record, its details parsed, the seals left out."""
    shown = {c: record[c] for c in archive.COLUMNS if c != "sealed"}
    shown["details"] = json.loads(record["details"])
    return shown


def entry(bus: str, record: archive.Record) -> dict[str, Any]:
    """One PutEvents entry; its time is the event's."""
    return {
        "Time": parse_iso(str(record["at"])),
        "Source": SOURCE,
        "DetailType": detail_type(str(record["type"])),
        "Detail": json.dumps(detail(record), ensure_ascii=False, sort_keys=True),
        "EventBusName": bus,
        "Resources": [],
    }


class EventBridgePublisher:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    async def publish(self, bus: str, records: Sequence[archive.Record]) -> list[bool]:
        """Which of the (at most ten) records' events the bus accepted."""
        async with self._clients.client("events") as events:
            answer = await events.put_events(Entries=[entry(bus, r) for r in records])
        return ["EventId" in result and "ErrorCode" not in result for result in answer["Entries"]]
