"""What a grant was used for: CloudTrail events of its session, grouped by action (pure).

A CloudTrail record names the call as ``eventSource`` (``s3.amazonaws.com``) and ``eventName``
(``GetObject``); the IAM action is the source's first label and the name (``s3:GetObject``).
That holds for the services the bot grants; a call CloudTrail logs under another source than
its IAM prefix is still listed, just never counted as using a granted action.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from cloud_access_bot.domain.model import parse_iso


@dataclass(frozen=True)
class TrailEvent:
    """One CloudTrail record, as far as activity needs it."""

    at: datetime
    source: str
    name: str
    session: str
    error_code: str = ""
    error_message: str = ""

    @property
    def action(self) -> str:
        return f"{self.source.split('.')[0]}:{self.name}"


def trail_event(record: Mapping[str, Any] | str) -> TrailEvent:
    """A CloudTrail record (the JSON CloudTrail writes, or LookupEvents' ``CloudTrailEvent``)."""
    data = json.loads(record) if isinstance(record, str) else record
    identity = data.get("userIdentity", {})
    arn = str(identity.get("arn", ""))
    session = arn.rsplit("/", 1)[-1] if identity.get("type") == "AssumedRole" else ""
    return TrailEvent(
        at=parse_iso(str(data["eventTime"])),
        source=str(data["eventSource"]),
        name=str(data["eventName"]),
        session=session or str(identity.get("userName", "")),
        error_code=str(data.get("errorCode", "")),
        error_message=str(data.get("errorMessage", "")),
    )


@dataclass
class ActionUse:
    action: str
    calls: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None


def in_scope(event: TrailEvent, *, start: datetime, end: datetime, services: Iterable[str]) -> bool:
    """Whether the session's event used the grant: inside its window, a granted service."""
    return start <= event.at <= end and event.action.split(":")[0] in set(services)


def by_action(events: Iterable[TrailEvent]) -> list[ActionUse]:
    """Calls, errors (by code) and first/last time per action, most called first."""
    uses: dict[str, ActionUse] = {}
    for event in sorted(events, key=lambda e: e.at):
        use = uses.setdefault(event.action, ActionUse(event.action, first=event.at))
        use.calls += 1
        use.last = event.at
        if event.error_code:
            use.errors[event.error_code] = use.errors.get(event.error_code, 0) + 1
    return sorted(uses.values(), key=lambda u: (-u.calls, u.action))


def unused(granted: Sequence[str], uses: Sequence[ActionUse]) -> list[str]:
    """Granted actions (patterns allowed: ``s3:Get*``) no successful call matched."""
    used = [u.action.lower() for u in uses if u.calls > sum(u.errors.values())]
    return [g for g in granted if not any(fnmatchcase(a, g.lower()) for a in used)]


def usage_line(granted: Sequence[str], uses: Sequence[ActionUse]) -> str:
    """``used 2 of 7 actions; never used s3:PutObject, …`` (the right-sizing summary)."""
    return right_sizing(granted, uses).summary


@dataclass(frozen=True)
class RightSizing:
    """What an ended grant gave against what its session used of it."""

    granted: tuple[str, ...]
    #: Granted actions (as granted, patterns too) some successful call used.
    used: tuple[str, ...]
    #: Granted actions no successful call used.
    unused: tuple[str, ...]
    #: The concrete actions of the successful calls a grant covered: the smaller set to ask
    #: for next time (a granted ``s3:Get*`` used only as ``s3:GetObject`` gives the latter).
    smaller: tuple[str, ...]

    @property
    def summary(self) -> str:
        line = f"used {len(self.used)} of {len(self.granted)} actions"
        return line + (f"; never used {', '.join(self.unused)}" if self.unused else "")

    def details(self) -> dict[str, Any]:
        """The USAGE_REVIEWED event's details."""
        return {
            "granted": list(self.granted),
            "used": list(self.used),
            "unused": list(self.unused),
            "smaller_set": list(self.smaller),
            "summary": self.summary,
        }


def right_sizing(granted: Sequence[str], uses: Sequence[ActionUse]) -> RightSizing:
    """Compare the granted actions with the grant's calls (see ``unused``)."""
    never = unused(granted, uses)
    succeeded = [u.action for u in uses if u.calls > sum(u.errors.values())]
    smaller = [a for a in succeeded if any(fnmatchcase(a.lower(), g.lower()) for g in granted)]
    return RightSizing(
        granted=tuple(granted),
        used=tuple(g for g in granted if g not in never),
        unused=tuple(never),
        smaller=tuple(sorted(dict.fromkeys(smaller))),
    )
