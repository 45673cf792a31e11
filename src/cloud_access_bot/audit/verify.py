"""Tamper evidence: re-check each request's hash chain and that the request agrees with it.

The chain (domain.audit) shows edited, removed and re-ordered events. The request item is not
hashed, so its audit-relevant fields are compared with the events: status and version with the
last event, the deciding person with the deciding event, the policy document with GRANTED.

Events past the retention period are deleted by DynamoDB TTL: for such a request, a missing
beginning of the chain is expected and not reported.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloud_access_bot.audit.queries import EVENT_READS, request_with_events
from cloud_access_bot.domain.audit import verify_chain
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, EventType
from cloud_access_bot.ports import Store

DECIDING_EVENTS = frozenset(
    {
        EventType.APPROVED,
        EventType.AUTO_APPROVED,
        EventType.DENIED,
        EventType.CANCELLED,
        EventType.TIMED_OUT,
    }
)
_REMOVED = re.compile(r"^event seq (\d+) removed$")
_ALL_REMOVED = "events from the start removed"


@dataclass(frozen=True)
class Finding:
    request_id: str
    problem: str


@dataclass
class VerifyReport:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _expired_by_ttl(problem: str, first_seq: int | None) -> bool:
    """Whether the problem is only the beginning of the chain being gone."""
    removed = _REMOVED.match(problem)
    if removed:
        return first_seq is not None and int(removed.group(1)) < first_seq
    return first_seq is None and problem.startswith(_ALL_REMOVED)


def _disagreements(request: AccessRequest, events: Sequence[AuditEvent]) -> list[str]:
    problems = []
    last = events[-1]
    if (last.seq, last.status) != (request.version, request.status):
        problems.append(
            f"request says version {request.version} {request.status}, its last event is "
            f"seq {last.seq} {last.status}: the request item was edited"
        )
    deciding = [e for e in events if e.type in DECIDING_EVENTS]
    if deciding and request.decided_by != deciding[-1].actor:
        problems.append(
            f"request says decided by {request.decided_by}, event seq {deciding[-1].seq} "
            f"({deciding[-1].type}) by {deciding[-1].actor}: the request item was edited"
        )
    granted = [e for e in events if e.type is EventType.GRANTED]
    if granted and (
        request.policy_document is None
        or json.loads(request.policy_document) != granted[-1].details.get("policy_document")
    ):
        problems.append(
            f"the request's policy document differs from the one recorded by event seq "
            f"{granted[-1].seq} (GRANTED): the request item was edited"
        )
    return problems


def check_request(
    request: AccessRequest, events: Sequence[AuditEvent], *, now: datetime, retention: timedelta
) -> list[str]:
    """Problems with one request's trail; empty when intact."""
    problems = verify_chain(events, head=request.last_event_hash)
    if request.created_at + retention <= now:
        first = events[0].seq if events else None
        problems = [p for p in problems if not _expired_by_ttl(p, first)]
    if events and events[0].seq == 1:
        problems += _disagreements(request, events)
    return problems


async def verify_trail(
    store: Store,
    *,
    since: datetime | None,
    until: datetime,
    now: datetime,
    retention: timedelta,
) -> VerifyReport:
    """Check every request created since ``since`` (all of the table when None)."""
    if since is None:
        requests = await store.all_requests()
    else:
        requests = await store.created_between(since, until)
    limit = asyncio.Semaphore(EVENT_READS)

    async def check(request_id: str) -> list[Finding]:
        async with limit:
            found = await request_with_events(store, request_id)
        if found is None:
            return [Finding(request_id, "request deleted while being verified")]
        request, events = found
        problems = check_request(request, events, now=now, retention=retention)
        return [Finding(request_id, problem) for problem in problems]

    results = await asyncio.gather(*(check(r.id) for r in requests))
    return VerifyReport(checked=len(requests), findings=[f for r in results for f in r])
