"""Scheduled starts: when a request may start, its window at approval, when it is due.

A request may ask to start later (``AccessRequest.scheduled_start``), up to
``max_start_ahead_hours`` ahead. It is approved ahead of time: the approval fixes the window
[start, start + duration] and leaves the request APPROVED; the sweeper writes the grant at
the start. No status of its own: an APPROVED request whose window starts after its approval
is "scheduled" (``is_scheduled``), and the due index keys APPROVED requests on the later of
the approval and the start, so the sweep finds it at its start without scanning.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud_access_bot.domain.model import AccessRequest, Status

#: A start this far in the past is still taken as "now" (the time spent filling the form).
PAST_GRACE = timedelta(minutes=5)


def shown(moment: datetime) -> str:
    """A moment as people read it: minutes, in UTC, marked as such."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def start_problem(start: datetime | None, now: datetime, horizon_hours: int) -> str | None:
    """Why ``start`` cannot be asked for now (None: it can, or no start was asked for)."""
    if start is None:
        return None
    if horizon_hours <= 0:
        return "Scheduled starts are turned off here: leave Start at empty to start on approval."
    if start < now - PAST_GRACE:
        return (
            f"Start at {shown(start)} is in the past: pick a time after {shown(now)}, or leave "
            "it empty to start on approval."
        )
    if start > now + timedelta(hours=horizon_hours):
        return (
            f"Start at {shown(start)} is too far ahead: at most {horizon_hours} hours from now "
            f"(before {shown(now + timedelta(hours=horizon_hours))})."
        )
    return None


def window(request: AccessRequest, now: datetime) -> tuple[datetime, datetime]:
    """The grant window fixed when ``request`` is approved at ``now``.

    From the scheduled start when it is still ahead, else from now (also when the approval
    comes after the scheduled start: the requester gets the full duration they asked for and
    the approver agreed to, starting when it is approved, as for a request without a start).
    """
    start = request.scheduled_start
    if start is None or start <= now:
        return request.window(now)
    start = start.replace(microsecond=0)
    return start, start + timedelta(minutes=request.duration_minutes)


def is_scheduled(request: AccessRequest) -> bool:
    """Approved with a window that starts after the approval: nothing granted until then."""
    return (
        request.status is Status.APPROVED
        and request.starts_at is not None
        and request.decided_at is not None
        and request.starts_at > request.decided_at
    )


def ended_before_start(request: AccessRequest) -> bool:
    """Cancelled or revoked while its start was still ahead: nothing was ever granted."""
    return (
        request.status in (Status.CANCELLED, Status.REVOKED)
        and request.starts_at is not None
        and request.decided_at is not None
        and request.starts_at > request.decided_at
    )


def awaiting_start(request: AccessRequest, now: datetime) -> bool:
    """Scheduled and not started yet: it may still be cancelled or revoked without AWS."""
    return is_scheduled(request) and request.starts_at is not None and request.starts_at > now


def ready_to_grant(request: AccessRequest, now: datetime, stuck_after: timedelta) -> bool:
    """Whether the sweeper writes this APPROVED request's grant now: a scheduled one at its
    start, any other once its approval is ``stuck_after`` old (the approver's own grant write
    was interrupted; a younger one is still being written by the approval itself)."""
    if is_scheduled(request):
        return request.starts_at is not None and request.starts_at <= now
    return request.decided_at is None or request.decided_at <= now - stuck_after


def due_moment(request: AccessRequest) -> datetime | None:
    """When an APPROVED request is due in the sweep's index: at the later of its approval and
    its start (the approval for one granted at once, the start for a scheduled one)."""
    moments = [m for m in (request.decided_at, request.starts_at) if m is not None]
    return max(moments) if moments else None
