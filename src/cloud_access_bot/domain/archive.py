"""The archive's record: one audit event with the request as that event left it (pure).

The S3 archive (aws.archive), the EventBridge events (aws.events) and the audit exports all
write this record, so Athena, a SIEM and the CLI see the same fields. The event's own fields
(``request_id`` … ``sealed``) are kept exactly, ``details`` and ``sealed`` as their canonical
JSON text, so the hash chain can be re-checked from the archive alone (``event_of``). The
request columns are a snapshot for queries ("who had access to X at T" needs no join); they
are not covered by the hash, the table's seals cover them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cloud_access_bot.domain.audit import details_json
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, EventType, Status, parse_iso
from cloud_access_bot.domain.write_access import granted_levels

#: Every column, in order; terraform/audit_archive.tf declares the same Glue schema.
COLUMNS = (
    "event_id",
    "request_id",
    "seq",
    "type",
    "actor",
    "at",
    "status",
    "details",
    "prev_hash",
    "hash",
    "sealed",
    "account_id",
    "account_name",
    "requester_id",
    "requester_email",
    "login_role",
    "reason",
    "starts_at",
    "expires_at",
    "approvals",
    "decided_by",
    "actions",
    "resources",
    "break_glass",
    "scheduled_start",
    "access_levels",
)
#: Columns holding a list of texts (arrays in JSON and Glue, one item per line in CSV).
LIST_COLUMNS = frozenset({"approvals", "actions", "resources", "access_levels"})

Record = dict[str, Any]


def moment(value: datetime | None) -> str:
    """ISO-8601 UTC with ``Z``, microseconds only when the time has them ("" for none)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def event_id(request_id: str, seq: int) -> str:
    """The id that makes a delivered-twice record harmless: one per request and seq."""
    return f"{request_id}#{seq:06d}"


def record(event: AuditEvent, request: AccessRequest) -> Record:
    """The archive record of ``event``; ``request`` is the request as the event wrote it."""
    return {
        "event_id": event_id(event.request_id, event.seq),
        "request_id": event.request_id,
        "seq": event.seq,
        "type": str(event.type),
        "actor": event.actor,
        "at": moment(event.at),
        "status": str(event.status),
        "details": details_json(event.details),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "sealed": details_json(event.sealed),
        "account_id": request.account_id,
        "account_name": request.account_name,
        "requester_id": request.requester_id,
        "requester_email": request.requester_email,
        "login_role": request.login_role,
        "reason": request.reason,
        "starts_at": moment(request.starts_at),
        "expires_at": moment(request.expires_at),
        "approvals": list(request.approvals),
        "decided_by": request.decided_by or "",
        "actions": list(request.actions),
        "resources": sorted({r for s in request.services for r in s.resources}),
        "break_glass": event.details.get("break_glass") is True,
        "scheduled_start": moment(request.scheduled_start),
        "access_levels": granted_levels(request),
    }


def event_of(row: Mapping[str, Any]) -> AuditEvent:
    """The audit event a record holds (its hash re-computes from these fields)."""
    return AuditEvent(
        request_id=str(row["request_id"]),
        seq=int(row["seq"]),
        type=EventType(row["type"]),
        actor=str(row["actor"]),
        at=parse_iso(str(row["at"])),
        status=Status(row["status"]),
        details=json.loads(row["details"]),
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
        sealed=json.loads(row["sealed"] or "{}"),
    )


def day(row: Mapping[str, Any]) -> str:
    """The ``dt`` partition (``yyyy-mm-dd``, UTC) the record belongs to."""
    return str(row["at"])[:10]


def json_lines(rows: Iterable[Record]) -> str:
    """Rows as JSON Lines (one compact object per line, columns in order)."""
    return "".join(
        json.dumps({c: row[c] for c in COLUMNS}, ensure_ascii=False, separators=(",", ":")) + "\n"
        for row in rows
    )


def read_json_lines(text: str) -> list[Record]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
