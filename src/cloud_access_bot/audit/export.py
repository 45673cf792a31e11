"""Audit answers as rows, and rows as an aligned table, JSON or CSV (both read back exactly).

A row maps column names to text, or to a list of texts for the list columns. In CSV a list is
one cell with an item per line; JSON keeps lists as arrays. Times are ISO-8601 UTC with ``Z``,
with microseconds only when the stored time has them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cloud_access_bot.audit.activity import Activity
from cloud_access_bot.audit.queries import Access, approved_by
from cloud_access_bot.domain import archive
from cloud_access_bot.domain.model import AccessRequest, AuditEvent
from cloud_access_bot.domain.write_access import granted_levels

Cell = str | list[str]
Row = dict[str, Cell]

FORMATS = ("table", "json", "csv")
REQUEST_COLUMNS = (
    "id",
    "created_at",
    "requester",
    "email",
    "account",
    "account_id",
    "status",
    "approved_by",
    "decided_by",
    "starts_at",
    "expires_at",
    "actions",
    "reason",
)
ACCESS_COLUMNS = (
    "request_id",
    "user",
    "email",
    "account",
    "account_id",
    "starts_at",
    "ends_at",
    "ended_by",
    "actions",
    "resources",
    "approved_by",
    "access_levels",
)
EVENT_COLUMNS = ("seq", "at", "type", "actor", "status", "reason", "details")
ACTIVITY_COLUMNS = ("action", "calls", "errors", "first", "last")
UNUSED_COLUMNS = ("request_id", "user", "email", "account", "ended_at", "used", "never_used")
LIST_COLUMNS = frozenset(
    {"approved_by", "actions", "resources", "errors", "never_used", *archive.LIST_COLUMNS}
)
#: Widest cell of the terminal table; longer text is cut with an ellipsis (exports are whole).
TABLE_CELL_WIDTH = 60


def moment(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def request_row(request: AccessRequest) -> Row:
    return {
        "id": request.id,
        "created_at": moment(request.created_at),
        "requester": request.requester_id,
        "email": request.requester_email,
        "account": request.account_name,
        "account_id": request.account_id,
        "status": str(request.status),
        "approved_by": list(approved_by(request)),
        "decided_by": request.decided_by or "",
        "starts_at": moment(request.starts_at),
        "expires_at": moment(request.expires_at),
        "actions": list(request.actions),
        "reason": request.reason,
    }


def access_row(access: Access) -> Row:
    request = access.request
    return {
        "request_id": request.id,
        "user": request.requester_id,
        "email": request.requester_email,
        "account": request.account_name,
        "account_id": request.account_id,
        "starts_at": moment(access.window.start),
        "ends_at": moment(access.window.end),
        "ended_by": str(access.window.ended_by or "EXPIRY"),
        "actions": access.actions,
        "resources": access.resources,
        "approved_by": list(approved_by(request)),
        "access_levels": granted_levels(request),
    }


def event_row(event: AuditEvent) -> Row:
    others = {k: v for k, v in event.details.items() if k not in ("reason", "policy_document")}
    return {
        "seq": str(event.seq),
        "at": moment(event.at),
        "type": str(event.type),
        "actor": event.actor,
        "status": str(event.status),
        "reason": str(event.details.get("reason", "")),
        "details": json.dumps(others, sort_keys=True, ensure_ascii=False) if others else "",
    }


def _cut(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TABLE_CELL_WIDTH else flat[: TABLE_CELL_WIDTH - 1] + "…"


def table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """Columns aligned for a terminal; lists comma-separated, long cells cut."""
    cells = [
        [_cut(", ".join(value) if isinstance(value, list) else value) for value in row.values()]
        for row in ({c: r.get(c, "") for c in columns} for r in rows)
    ]
    header = [c.upper() for c in columns]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    )


def render(rows: Sequence[Row], columns: Sequence[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: row[c] for c in columns} for row in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "\n".join(v) if isinstance(v, list) else v for c, v in row.items()})
        return out.getvalue().rstrip("\n")
    return table(rows, columns)


def show_json(request: AccessRequest, events: Sequence[AuditEvent]) -> dict[str, Any]:
    """Everything about one request: fields, the attached policy, every event in full."""
    return {
        "request": request_row(request),
        "login_role": request.login_role,
        "duration_minutes": request.duration_minutes,
        "services": [s.to_dict() for s in request.services],
        "policy_name": request.policy_name,
        "policy_document": json.loads(request.policy_document) if request.policy_document else None,
        "failure_reason": request.failure_reason,
        "scheduled_start": moment(request.scheduled_start),
        "events": [
            {
                "seq": e.seq,
                "at": moment(e.at),
                "type": str(e.type),
                "actor": e.actor,
                "status": str(e.status),
                "details": e.details,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
                "sealed": e.sealed,
            }
            for e in events
        ],
    }


def show_text(
    request: AccessRequest, events: Sequence[AuditEvent], labels: Mapping[str, str] | None = None
) -> str:
    """One request for a terminal: summary, the exact policy document, the timeline.

    ``labels``: a name for some Slack ids (audit.people), shown instead of the bare id."""
    names = labels or {}

    def who(user_id: str) -> str:
        return names.get(user_id, user_id)

    row = request_row(request)
    requester = names.get(request.requester_id)
    lines = [
        f"request     {request.id}  {request.status}",
        f"requester   {requester or f'{request.requester_id} ({request.requester_email})'}",
        f"account     {request.account_name} ({request.account_id}) as {request.login_role}",
        f"reason      {request.reason}",
        f"created     {row['created_at']}, {request.duration_minutes} min asked",
        f"approved by {', '.join(map(who, approved_by(request))) or '-'}",
        f"decided by  {who(request.decided_by or '-')}: {request.decision_reason or '-'}",
        f"window      {row['starts_at'] or '-'} → {row['expires_at'] or '-'}",
    ]
    if request.scheduled_start:
        lines.append(f"scheduled   to start {moment(request.scheduled_start)} (asked for)")
    lines += [
        f"requested   {s.service}: {', '.join(s.actions)} on {', '.join(s.resources)}"
        for s in request.services
    ]
    if request.failure_reason:
        lines.append(f"failure     {request.failure_reason}")
    if request.policy_document:
        lines.append(f"policy      {request.policy_name} (as attached):")
        lines.append(json.dumps(json.loads(request.policy_document), indent=2))
    timeline = [{**r, "actor": who(str(r["actor"]))} for r in map(event_row, events)]
    lines += ["", "timeline", table(timeline, EVENT_COLUMNS)]
    return "\n".join(lines)


def shown_text(
    shown: Sequence[tuple[AccessRequest, Sequence[AuditEvent]]],
    labels: Mapping[str, str] | None = None,
) -> str:
    """``show_text`` of a request, or of every request of its batch (one per account) under
    a heading naming them."""
    if len(shown) == 1:
        return show_text(*shown[0], labels)
    lead = shown[0][0]
    accounts = ", ".join(f"{r.account_name} {r.status}" for r, _ in shown)
    heading = f"batch       {lead.batch_id}: {len(shown)} accounts ({accounts})"
    return "\n\n".join([heading, *(show_text(r, e, labels) for r, e in shown)])


def activity_text(activity: Activity, fmt: str) -> str:
    """One grant's use: a heading and the summary, then a row per action (errors by code)."""
    rows: list[Row] = [
        {
            "action": use.action,
            "calls": str(use.calls),
            "errors": [f"{code} x{count}" for code, count in sorted(use.errors.items())],
            "first": moment(use.first),
            "last": moment(use.last),
        }
        for use in activity.uses
    ]
    if fmt != "table":
        return render(rows, ACTIVITY_COLUMNS, fmt)
    request, window = activity.request, activity.window
    heading = [
        f"request {request.id}: {request.requester_email} in {request.account_name} "
        f"({request.account_id}), {moment(window.start)} → {moment(window.end)}",
        activity.summary,
        "",
    ]
    return "\n".join(heading) + (table(rows, ACTIVITY_COLUMNS) if rows else "no calls recorded")


def unused_row(activity: Activity) -> Row:
    request = activity.request
    return {
        "request_id": request.id,
        "user": request.requester_id,
        "email": request.requester_email,
        "account": request.account_name,
        "ended_at": moment(activity.window.end),
        "used": f"{len(activity.granted) - len(activity.unused)} of {len(activity.granted)}",
        "never_used": list(activity.unused),
    }


def record_rows(records: Sequence[archive.Record]) -> list[Row]:
    """Archive records as rows: numbers and booleans as their JSON text, lists kept."""
    return [
        {
            column: value if isinstance(value, str | list) else json.dumps(value)
            for column, value in record.items()
        }
        for record in records
    ]
