"""Audit questions answered from the store's indexes: list, show, who had access.

Every query reads one index (user, account or month) over a time range; status and approver
filters apply to what the index returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud_access_bot.audit.matching import (
    GrantWindow,
    Statement,
    grant_window,
    matching_grants,
    policy_statements,
    target_grants,
)
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, Status
from cloud_access_bot.domain.write_access import gives_write
from cloud_access_bot.ports import AuditStore, Store, StoredRequest

#: How long before a window a request may have been created, unless the caller knows better
#: (pending timeout + longest duration): bounds the account index read by who-had-access.
DEFAULT_LOOKBACK = timedelta(days=30)
#: Event reads in flight at once (each is one query on the table).
EVENT_READS = 8


@dataclass(frozen=True)
class ListFilter:
    since: datetime
    until: datetime
    user: str | None = None
    account_id: str | None = None
    status: Status | None = None
    approver: str | None = None


@dataclass(frozen=True)
class Access:
    """One grant that answers a who-had-access question, with what of it matched."""

    request: AccessRequest
    window: GrantWindow
    grants: tuple[Statement, ...]

    @property
    def actions(self) -> list[str]:
        return sorted({a for s in self.grants for a in s.actions})

    @property
    def resources(self) -> list[str]:
        return sorted({r for s in self.grants for r in s.resources})


def approved_by(request: AccessRequest) -> tuple[str, ...]:
    """Who approved: the recorded approvals, or the deciding actor of an automatic approval."""
    if request.approvals:
        return request.approvals
    if request.starts_at is not None and request.decided_by:
        return (request.decided_by,)
    return ()


def _wanted(request: AccessRequest, where: ListFilter) -> bool:
    if where.status is not None and request.status != where.status:
        return False
    approver = where.approver
    return approver is None or approver in approved_by(request) or approver == request.decided_by


async def list_requests(store: Store, where: ListFilter) -> list[AccessRequest]:
    """Requests created within the range matching every filter, oldest first."""
    found = await store.created_between(
        where.since, where.until, user_id=where.user, account_id=where.account_id
    )
    return [request for request in found if _wanted(request, where)]


async def stored_with_events(
    store: AuditStore, request_id: str, attempts: int = 3
) -> tuple[StoredRequest, list[AuditEvent]] | None:
    """The stored request and its events as of one version (re-read if a write landed between)."""
    found = None
    for _ in range(attempts):
        stored = await store.get_stored(request_id)
        if stored is None:
            return None
        found = stored, await store.events(request_id)
        again = await store.get(request_id)
        if again is not None and again.version == stored.request.version:
            break
    return found


async def request_with_events(
    store: AuditStore, request_id: str
) -> tuple[AccessRequest, list[AuditEvent]] | None:
    """The request and its events as of one version."""
    found = await stored_with_events(store, request_id)
    return None if found is None else (found[0].request, found[1])


async def _events_of(store: Store, requests: Sequence[AccessRequest]) -> list[list[AuditEvent]]:
    limit = asyncio.Semaphore(EVENT_READS)

    async def read(request: AccessRequest) -> list[AuditEvent]:
        if request.is_open:  # still ACTIVE (or about to be): no ending event to look for
            return []
        async with limit:
            return await store.events(request.id)

    return list(await asyncio.gather(*(read(r) for r in requests)))


async def who_had_access(
    store: Store,
    account_id: str,
    since: datetime,
    until: datetime,
    *,
    action: str | None = None,
    resource: str | None = None,
    write: bool = False,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> list[Access]:
    """Grants in the account in force at some moment of [since, until] that match the question.

    ``since == until`` asks about one moment. Windows are start-inclusive, end-exclusive.
    ``write`` keeps only grants that gave write access (domain.write_access).
    """
    created = await store.created_between(since - lookback, until, account_id=account_id)
    granted = [
        r
        for r in created
        if r.policy_document is not None
        and r.starts_at is not None
        and (not write or gives_write(r))
    ]
    answers = []
    for request, events in zip(granted, await _events_of(store, granted), strict=True):
        window = grant_window(request, events)
        if window is None or not window.overlaps(since, until):
            continue
        grants = target_grants(request) or matching_grants(
            policy_statements(request.policy_document), action, resource
        )
        if grants:
            answers.append(Access(request, window, tuple(grants)))
    return sorted(answers, key=lambda a: (a.window.start, a.request.id))
