"""``audit activity <request-id>`` and ``audit unused``: what a grant's session did with it.

The grant's window comes from its events (audit.matching.grant_window). The Trail port reads
the CloudTrail events of the requester's session in the target account (named by their email,
as the granters name it: aws.session_granter.session_name); those of the grant's own role
(domain.activity.of_grant: the requester's other roles share the session name), inside the
window and of a granted service are grouped by action with their errors. The same grouping
tells which granted actions went unused (domain.activity.usage_line); ``audit unused`` takes
that from the grant's recorded usage review when there is one (audit.review).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cloud_access_bot.audit.matching import GrantWindow, grant_window
from cloud_access_bot.audit.queries import request_with_events
from cloud_access_bot.config import AccessMode, BotConfig
from cloud_access_bot.domain.activity import (
    ActionUse,
    RightSizing,
    TrailEvent,
    by_action,
    grant_role,
    in_scope,
    of_grant,
    unused,
)
from cloud_access_bot.domain.model import AccessRequest, EventType
from cloud_access_bot.ports import AuditStore

#: ``audit unused`` lists grants that left at least this share of their actions unused.
MOSTLY_UNUSED = 0.5
#: Grants whose trail is read at once (LookupEvents allows 2 calls a second per region).
TRAIL_READS = 2


class Trail(Protocol):
    async def events(
        self, role_arn: str, regions: Sequence[str], email: str, start: datetime, end: datetime
    ) -> list[TrailEvent]:
        """CloudTrail events in [start, end] of the session of the person with ``email``, in
        the account of ``role_arn``."""


@dataclass(frozen=True)
class Activity:
    request: AccessRequest
    window: GrantWindow
    uses: list[ActionUse]
    #: Granted actions no successful call used.
    unused: list[str]

    @property
    def granted(self) -> tuple[str, ...]:
        return self.request.actions

    @property
    def summary(self) -> str:
        used = tuple(g for g in self.granted if g not in self.unused)
        return RightSizing(self.granted, used, tuple(self.unused), ()).summary

    @property
    def mostly_unused(self) -> bool:
        return len(self.unused) >= len(self.granted) * MOSTLY_UNUSED


class NotGranted(Exception):
    """The request has no grant window (never granted, or unknown): the text says which."""


async def grant_activity(
    store: AuditStore,
    trail: Trail,
    config: BotConfig,
    request_id: str,
) -> Activity:
    """The grant's CloudTrail activity; NotGranted when it has none to show."""
    found = await request_with_events(store, request_id)
    if found is None:
        raise NotGranted(f"no request {request_id}")
    request, events = found
    window = grant_window(request, events)
    if window is None:
        raise NotGranted(f"request {request_id} was never granted ({request.status})")
    account = next(
        (a for a in config.accounts.values() if a.account_number == request.account_id), None
    )
    if account is None:
        raise NotGranted(f"account {request.account_id} of {request_id} is no longer configured")
    regions = config.regions_for(request.account_name)
    seen = await trail.events(
        account.iam_role, regions, request.requester_email, window.start, window.end
    )
    services = {s.service for s in request.services}
    # What the grant was written for, as recorded at submission (the account may have
    # changed since).
    recorded = request.recorded_account
    mode = AccessMode(recorded.access_mode) if recorded.access_mode else account.access_mode
    role = grant_role(request, mode, recorded.broker_role or account.broker_role)
    mine = [
        e
        for e in seen
        if of_grant(e, role, request.account_id)
        and in_scope(e, start=window.start, end=window.end, services=services)
    ]
    uses = by_action(mine)
    return Activity(request, window, uses, unused(request.actions, uses))


async def unused_grants(
    store: AuditStore,
    trail: Trail,
    config: BotConfig,
    requests: Sequence[AccessRequest],
    *,
    since: datetime,
    until: datetime,
) -> list[Activity]:
    """Of ``requests``, the grants ended in [since, until] that used at most MOSTLY_UNUSED of
    their actions, oldest first (CloudTrail is read for a few grants at a time)."""
    limit = asyncio.Semaphore(TRAIL_READS)

    async def of(request: AccessRequest) -> Activity | None:
        async with limit:
            try:
                found = await recorded_review(store, request.id) or await grant_activity(
                    store, trail, config, request.id
                )
            except NotGranted:
                return None
        return found if since <= found.window.end <= until and found.mostly_unused else None

    answers = await asyncio.gather(*(of(r) for r in requests if r.starts_at is not None))
    return [a for a in answers if a is not None]


async def recorded_review(store: AuditStore, request_id: str) -> Activity | None:
    """The grant's use as its usage review recorded it (USAGE_REVIEWED), without reading
    CloudTrail again; None when no review was recorded (nor the calls, only what went unused)."""
    found = await request_with_events(store, request_id)
    if found is None:
        return None
    request, events = found
    reviews = [e for e in events if e.type is EventType.USAGE_REVIEWED and "unused" in e.details]
    window = grant_window(request, events)
    if not reviews or window is None:
        return None
    return Activity(request, window, [], [str(a) for a in reviews[-1].details["unused"]])
