"""The usage review: some minutes after a grant ends, what its session used of it.

The end of a grant puts it on the due index (``usage_review_at``: the end plus
``usage_review_delay_minutes``, since CloudTrail delivers events minutes late), in the same
write that records the end, so a restart loses no review. A loop of its own beside the
sweeper (slow CloudTrail reads never delay an expiry) reads the due reviews,
asks CloudTrail as ``audit activity`` does (the same ``grant_activity``), and records the
comparison in the audit trail (USAGE_REVIEWED), which also tells the requester. CloudTrail
failing leaves the review due: it is asked again after ``RETRY``, and after ``GIVE_UP`` past its
time recorded as not reviewed, with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from cloud_access_bot.audit.activity import NotGranted, Trail, grant_activity
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.activity import RightSizing, right_sizing
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.ports import AuditStore, TrailUnavailable

log = logging.getLogger(__name__)

#: How long a review CloudTrail refused waits before it is asked again (in this process).
RETRY = timedelta(minutes=5)
#: How long past its time a review CloudTrail keeps refusing is recorded as not reviewed.
GIVE_UP = timedelta(days=1)
#: Reviews one pass reads at most (LookupEvents allows 2 calls a second per region).
PER_SWEEP = 20
#: Due reviews one pass looks at, so that postponed ones do not hide those behind them.
LOOKED_AT = 200

Record = Callable[[AccessRequest, RightSizing | None, dict[str, Any]], Awaitable[bool]]


class UsageReviews:
    def __init__(
        self,
        store: AuditStore,
        trail: Trail,
        config: Callable[[], BotConfig],
        record: Record,
    ) -> None:
        self._store = store
        self._trail = trail
        self._config = config
        self._record = record
        self._retry_at: dict[str, datetime] = {}

    async def run(self, now: datetime) -> int:
        """Review the grants whose review is due; returns how many were recorded."""
        due = await self._store.due_reviews(now, limit=LOOKED_AT)
        ready = [r for r in due if self._retry_at.get(r.id, now) <= now][:PER_SWEEP]
        recorded = 0
        for request in ready:
            if await self._review(request, now):
                recorded += 1
        return recorded

    async def _review(self, request: AccessRequest, now: datetime) -> bool:
        try:
            activity = await grant_activity(self._store, self._trail, self._config(), request.id)
        except NotGranted as why:
            return await self._record(request, None, {"reviewed": False, "reason": str(why)})
        except TrailUnavailable as why:
            assert request.usage_review_at is not None
            if now - request.usage_review_at < GIVE_UP:
                log.warning("usage review of %s postponed: %s", request.id, why)
                self._retry_at[request.id] = now + RETRY
                return False
            return await self._record(request, None, {"reviewed": False, "reason": str(why)})
        self._retry_at.pop(request.id, None)
        review = right_sizing(request.actions, activity.uses)
        return await self._record(request, review, review.details())
