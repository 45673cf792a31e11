"""The archive record, the EventBridge event made from it, and the right-sizing summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cloud_access_bot.aws.events import detail, detail_type, entry
from cloud_access_bot.domain import archive
from cloud_access_bot.domain.activity import TrailEvent, by_action, trail_event, usage_line
from cloud_access_bot.domain.audit import seal, verify_chain
from cloud_access_bot.domain.model import (
    AccessRequest,
    AuditEvent,
    EventType,
    ServiceAccess,
    Status,
)

AT = datetime(2025, 3, 4, 23, 59, 59, 654321, tzinfo=UTC)
REQUEST = AccessRequest(
    id="a1b2c3d4e5f6",
    requester_id="U1",
    requester_email="alice@example.com",
    account_name="prod-payments",
    account_id="222222222222",
    login_role="Developer",
    reason="INC-42",
    duration_minutes=60,
    services=(ServiceAccess("s3", ("s3:GetObject", "s3:PutObject"), ("arn:aws:s3:::b",)),),
    created_at=AT,
)


def chain() -> list[AuditEvent]:
    first = seal(
        AuditEvent(
            REQUEST.id, 1, EventType.REQUESTED, "U1", AT, Status.PENDING, {}, sealed={"a": "1"}
        ),
        "",
    )
    second = seal(
        AuditEvent(
            REQUEST.id,
            2,
            EventType.APPROVED,
            "U2",
            AT + timedelta(seconds=1),
            Status.APPROVED,
            {"reason": "ok", "break_glass": True, "n": 1.5},
            sealed={"status": "d", "decided_by": None},
        ),
        first.hash,
    )
    return [first, second]


def test_records_read_back_to_events_whose_chain_verifies() -> None:
    records = [archive.record(e, REQUEST) for e in chain()]
    text = archive.json_lines(records)

    events = [archive.event_of(r) for r in archive.read_json_lines(text)]

    assert events == chain()
    assert verify_chain(events) == []
    assert [archive.day(r) for r in records] == ["2025-03-04", "2025-03-05"]
    assert records[1]["break_glass"] is True and records[0]["break_glass"] is False
    assert list(json.loads(text.splitlines()[0])) == list(archive.COLUMNS)


def test_an_edited_archived_line_breaks_the_chain() -> None:
    records = [archive.record(e, REQUEST) for e in chain()]
    records[1]["actor"] = "U9"
    assert verify_chain([archive.event_of(r) for r in records]) == [
        "event seq 2 was edited (its hash does not match)"
    ]


def test_the_event_bus_entry_names_the_change_and_leaves_out_the_seals() -> None:
    record = archive.record(chain()[1], REQUEST)

    sent = entry("cloud-access", record)

    assert sent["Source"] == "cloud-access-bot" and sent["DetailType"] == "AccessApproved"
    assert json.loads(sent["Detail"]) == detail(record)
    assert detail(record)["details"] == {"reason": "ok", "break_glass": True, "n": 1.5}
    assert "sealed" not in detail(record)
    assert [detail_type(t) for t in ("APPROVAL_ADDED", "TIMED_OUT", "GRANT_FAILED")] == [
        "AccessApprovalAdded",
        "AccessTimedOut",
        "AccessGrantFailed",
    ]


def test_usage_counts_an_action_used_only_when_a_call_succeeded() -> None:
    def call(name: str, error: str = "") -> TrailEvent:
        return TrailEvent(AT, "s3.amazonaws.com", name, "alice@example.com", error)

    uses = by_action([call("GetObject"), call("PutObject", "AccessDenied"), call("GetObject")])

    assert usage_line(["s3:GetObject", "s3:PutObject", "s3:List*"], uses) == (
        "used 1 of 3 actions; never used s3:PutObject, s3:List*"
    )
    assert usage_line(["s3:Get*"], uses) == "used 1 of 1 actions"


def test_a_cloudtrail_record_names_its_assumed_role_session() -> None:
    event = trail_event(
        {
            "eventTime": "2025-03-04T10:00:00Z",
            "eventSource": "dynamodb.amazonaws.com",
            "eventName": "Query",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::222222222222:assumed-role/Developer/alice@example.com",
            },
            "errorCode": "ValidationException",
        }
    )
    assert (event.action, event.session, event.error_code) == (
        "dynamodb:Query",
        "alice@example.com",
        "ValidationException",
    )
