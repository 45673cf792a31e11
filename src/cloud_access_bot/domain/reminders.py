"""When approvers are reminded of a request still waiting for their decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def next_reminder(
    created_at: datetime, now: datetime, schedule_minutes: Sequence[int]
) -> datetime | None:
    """The first reminder time in the schedule (minutes after creation) that is after ``now``."""
    for minutes in sorted(schedule_minutes):
        moment = created_at + timedelta(minutes=minutes)
        if moment > now:
            return moment
    return None
