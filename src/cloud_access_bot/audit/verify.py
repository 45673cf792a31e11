"""Tamper evidence: re-check each request's hash chain, its item against the chain, and that no
request the bot created is gone.

- The chain (domain.audit) shows edited, removed and re-ordered events.
- Seals: each event carries the digests of the request attributes it wrote, so any edit of
  the request item (expires_at, approvals, requester_email, policy document, …) is named with
  the attribute and the event that last wrote it.
- Cross-checks that also hold for requests written before seals existed: status and version
  with the last event, the requester with REQUESTED, the decider with the deciding event,
  every recorded approval with an approving event, the policy document and the grant window
  with the last GRANTED/EXTENDED event, and each index key with the attributes it derives from
  (an edited ``account_pk`` hides a grant from who-had-access).
- Day anchors (aws.store) list every request created: one listed but missing was deleted.

Events past the retention period are deleted by DynamoDB TTL: for such a request, a missing
beginning of the chain is expected and not reported.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud_access_bot.audit.queries import EVENT_READS, stored_with_events
from cloud_access_bot.domain.audit import unsealed_edits, verify_chain
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, EventType, iso
from cloud_access_bot.ports import AuditStore, StoredRequest

DECIDING_EVENTS = frozenset(
    {
        EventType.APPROVED,
        EventType.AUTO_APPROVED,
        EventType.DENIED,
        EventType.CANCELLED,
        EventType.TIMED_OUT,
    }
)
APPROVING_EVENTS = frozenset({EventType.APPROVAL_ADDED, EventType.APPROVED})
#: Events that write the grant's policy and window.
GRANTING_EVENTS = frozenset({EventType.GRANTED, EventType.EXTENDED})
_REMOVED = re.compile(r"^event seq (\d+) removed$")
_ALL_REMOVED = "events from the start removed"
_EDITED = "the request item was edited"
MONTH_KEYS = ("month_pk", "month_sk")


@dataclass(frozen=True)
class Finding:
    request_id: str
    problem: str


@dataclass
class VerifyReport:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    #: Requests whose events predate seals and anchors: checked by the cross-checks only.
    unsealed: int = 0
    #: The archive checked against the table too (``verify --archive``), if any.
    archive: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        """The report as the CLI prints it: one line per finding, then a summary."""
        lines = [f"request {f.request_id}: {f.problem}" for f in self.findings]
        count = len(self.findings)
        lines.append(
            f"{self.checked} request(s) checked, "
            + (f"{count} problem(s) found" if count else "every event chain intact")
        )
        if self.archive:
            lines.append(f"archive {self.archive} checked against the table")
        if self.unsealed:
            lines.append(
                f"{self.unsealed} request(s) written before seals and anchors: their chain, "
                "status, requester, decider, approvals, policy, window and index keys were "
                "checked, other fields and their deletion cannot be"
            )
        return lines


def _expired_by_ttl(problem: str, first_seq: int | None) -> bool:
    """Whether the problem is only the beginning of the chain being gone."""
    removed = _REMOVED.match(problem)
    if removed:
        return first_seq is not None and int(removed.group(1)) < first_seq
    return first_seq is None and problem.startswith(_ALL_REMOVED)


def _label(event: AuditEvent) -> str:
    return f"event seq {event.seq} ({event.type})"


def _policy_starts(document: Any) -> set[str]:
    """The DateGreaterThan times of a policy document's statements (none without a window)."""
    statements = document.get("Statement", []) if isinstance(document, Mapping) else []
    return {
        str(time)
        for statement in statements
        if isinstance(statement, Mapping)
        for time in [
            statement.get("Condition", {}).get("DateGreaterThan", {}).get("aws:CurrentTime")
        ]
        if time
    }


def _grant_disagreements(request: AccessRequest, events: Sequence[AuditEvent]) -> list[str]:
    """The policy and window who-had-access reads, against the event that wrote them."""
    grants = [e for e in events if e.type in GRANTING_EVENTS]
    if not grants:
        if request.policy_document is not None:
            return [f"the request has a policy document but no GRANTED event: {_EDITED}"]
        return []
    last = grants[-1]
    policy = last.details.get("policy_document")
    problems = []
    if request.policy_document is None or json.loads(request.policy_document) != policy:
        problems.append(f"the request's policy document differs from {_label(last)}: {_EDITED}")
    ends = last.details.get("expires_at")
    if ends and (request.expires_at is None or iso(request.expires_at) != ends):
        shown = iso(request.expires_at) if request.expires_at else "nothing"
        problems.append(f"expires_at says {shown}, {_label(last)} granted until {ends}: {_EDITED}")
    starts = _policy_starts(policy)
    if starts and (request.starts_at is None or iso(request.starts_at) not in starts):
        shown = iso(request.starts_at) if request.starts_at else "nothing"
        problems.append(
            f"starts_at says {shown}, the policy of {_label(last)} starts at "
            f"{', '.join(sorted(starts))}: {_EDITED}"
        )
    return problems


def _disagreements(request: AccessRequest, events: Sequence[AuditEvent]) -> list[str]:
    """Cross-checks of a complete chain (from seq 1) with the request item."""
    problems = []
    first, last = events[0], events[-1]
    if (last.seq, last.status) != (request.version, request.status):
        problems.append(
            f"request says version {request.version} {request.status}, its last event is "
            f"seq {last.seq} {last.status}: {_EDITED}"
        )
    if first.type is EventType.REQUESTED and first.actor != request.requester_id:
        problems.append(
            f"request says requested by {request.requester_id}, {_label(first)} by "
            f"{first.actor}: {_EDITED}"
        )
    deciding = [e for e in events if e.type in DECIDING_EVENTS]
    if deciding and request.decided_by != deciding[-1].actor:
        problems.append(
            f"request says decided by {request.decided_by}, {_label(deciding[-1])} by "
            f"{deciding[-1].actor}: {_EDITED}"
        )
    approving = {e.actor for e in events if e.type in APPROVING_EVENTS}
    problems.extend(
        f"approval by {person} has no approving event: {_EDITED}"
        for person in request.approvals
        if person not in approving
    )
    return problems + _grant_disagreements(request, events)


def _index_problems(stored: StoredRequest, *, unsealed: bool) -> list[str]:
    """Index keys that no longer follow from the request (it would be missing from queries).

    The month index came later than the others: a request created before seals may lack it.
    """
    expected = stored.expected_index_keys
    names = set(expected) | (stored.index_key_names & set(stored.attributes))
    if unsealed:
        names -= {n for n in MONTH_KEYS if n not in stored.attributes}
    return [
        f"index key {name} is {stored.attributes.get(name)!r}, the request's own fields give "
        f"{expected.get(name)!r}: {_EDITED}"
        for name in sorted(names)
        if stored.attributes.get(name) != expected.get(name)
    ]


def created_unsealed(events: Sequence[AuditEvent]) -> bool:
    """Whether the request was created before seals and anchors (its REQUESTED has no seals)."""
    return bool(events) and events[0].seq == 1 and not events[0].sealed


def check_request(
    stored: StoredRequest,
    events: Sequence[AuditEvent],
    *,
    now: datetime,
    retention: timedelta,
) -> list[str]:
    """Problems with one request's trail; empty when intact."""
    request = stored.request
    problems = verify_chain(events, head=request.last_event_hash)
    if request.created_at + retention <= now:
        first = events[0].seq if events else None
        problems = [p for p in problems if not _expired_by_ttl(p, first)]
    problems += _index_problems(stored, unsealed=created_unsealed(events))
    if events and events[0].seq == 1:
        problems += _disagreements(request, events)
        problems += unsealed_edits(events, stored.sealed_digests)
    return problems


def day_start(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    day = moment.astimezone(UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def requests_to_check(
    store: AuditStore, *, since: datetime | None, until: datetime, anchored: Iterable[str]
) -> list[str]:
    """Ids of the requests created since the day of ``since`` (all when None), and those the
    day anchors list."""
    start = day_start(since)
    if start is None:
        requests = await store.all_requests()
    else:
        requests = await store.created_between(start, until)
    return list(dict.fromkeys([r.id for r in requests] + sorted(anchored)))


async def verify_trail(
    store: AuditStore,
    *,
    since: datetime | None,
    until: datetime,
    now: datetime,
    retention: timedelta,
) -> VerifyReport:
    """Check every request created since the day of ``since`` (all of the table when None),
    and every request the day anchors of that range list."""
    anchored = await store.anchored(day_start(since), until)
    ids = await requests_to_check(store, since=since, until=until, anchored=anchored)
    limit = asyncio.Semaphore(EVENT_READS)
    report = VerifyReport(checked=len(ids))

    async def check(request_id: str) -> Iterable[str]:
        async with limit:
            found = await stored_with_events(store, request_id)
        day = anchored.get(request_id)
        if found is None:
            if day is None:
                return ["request deleted while being verified"]
            return [f"request deleted: the anchor of {day} lists it, the table has none"]
        stored, events = found
        problems = check_request(stored, events, now=now, retention=retention)
        if created_unsealed(events):
            report.unsealed += 1
        elif day is None and events and events[0].seq == 1:
            created = f"{stored.request.created_at.astimezone(UTC):%Y-%m-%d}"
            problems.append(
                f"not listed in the anchor of {created}: written outside the bot, "
                "or the anchor was edited"
            )
        return problems

    results = await asyncio.gather(*(check(i) for i in ids))
    report.findings = [Finding(i, p) for i, found in zip(ids, results, strict=True) for p in found]
    return report
