"""The request modal's "Start at" input and how a scheduled start is shown in messages.

Slack's datetimepicker shows the date and time in the person's own Slack time zone and sends
a Unix timestamp, so nothing here has to know that zone; messages show times in UTC, marked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.domain.schedule import is_scheduled, shown

START_BLOCK = "start"
START_ACTION = "start_at_picker"
START_LABEL = "Start at"


def start_input(config: BotConfig) -> list[dict[str, Any]]:
    """The optional start input; none when scheduled starts are off (horizon 0)."""
    hours = config.max_start_ahead_hours
    if hours <= 0:
        return []
    return [
        {
            "type": "input",
            "block_id": START_BLOCK,
            "label": {"type": "plain_text", "text": START_LABEL},
            "element": {"type": "datetimepicker", "action_id": START_ACTION},
            "optional": True,
            "hint": {
                "type": "plain_text",
                "text": f"Leave empty to start as soon as it is approved; at most {hours} "
                "hours ahead. It is approved ahead of time and granted at the start.",
            },
        }
    ]


def read_start(values: dict[str, Any]) -> tuple[datetime | None, str | None]:
    """The start picked (None: empty), or why the submitted value is not a moment (a forged
    payload can send anything)."""
    state = values.get(START_BLOCK, {}).get(START_ACTION)
    picked = state.get("selected_date_time") if isinstance(state, dict) else None
    if picked is None:
        return None, None
    if isinstance(picked, bool) or not isinstance(picked, int):
        return None, "Start at must be a date and time picked in the form."
    try:
        return datetime.fromtimestamp(picked, UTC), None
    except (OverflowError, OSError, ValueError):
        return None, "Start at must be a date and time picked in the form."


def window_text(request: AccessRequest) -> str | None:
    """When a request with a scheduled start starts and ends (None: no scheduled start).

    Before approval the window it asks for; from approval the window fixed for it.
    """
    start = request.scheduled_start
    if start is None:
        return None
    if request.starts_at and request.expires_at:
        begins, ends = request.starts_at, request.expires_at
    else:
        begins, ends = start, start + timedelta(minutes=request.duration_minutes)
    return f":calendar: *Scheduled:* starts {shown(begins)}, ends {shown(ends)}"


def window_blocks(request: AccessRequest) -> list[dict[str, Any]]:
    text = window_text(request)
    if text is None:
        return []
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


def scheduled_status(request: AccessRequest, by: str) -> str | None:
    """The status line of an approved request waiting for its start (None: not one)."""
    if request.status is not Status.APPROVED or not is_scheduled(request):
        return None
    assert request.starts_at is not None
    approved = f" – approved{by}" if by else ""
    return f":calendar: Scheduled{approved}; starts {shown(request.starts_at)}"
