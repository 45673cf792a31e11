"""A liveness file shared by the running bot (writer) and ``cloud-access-bot health`` (reader).

The file is JSON::

    {"connected": bool, "updated_at": "<ISO-8601 Z>", "started_at": "…",
     "sweep_interval_s": 15, "last_sweep_at": "…" | null, "store_problem": "…" | null}

The bot rewrites it every few seconds, so a stale file means the process is stuck or gone even
if it claims a connection. A live process is still unhealthy when it is not connected to Slack,
when its sweeper (which removes expired grants) has not completed a run for three intervals
(and at least 30 s), or
when its last attempt to reach the DynamoDB table failed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cloud_access_bot.domain.model import iso, parse_iso, utcnow

#: The sweeper is stalled when its last successful run is older than this many intervals…
SWEEP_INTERVALS_ALLOWED = 3
#: …and than this: one sweep may take seconds (reconciliation runs beside it), which is no
#: stall when the interval is a second or two (the sandbox's).
SWEEP_STALL_MIN_S = 30.0


@dataclass(frozen=True)
class HealthState:
    """What the running bot knows about itself; times are real (wall-clock) UTC."""

    connected: bool
    started_at: datetime
    sweep_interval_s: float
    last_sweep_at: datetime | None = None
    store_problem: str | None = None


def write_health(
    path: str | os.PathLike[str], state: HealthState, now: datetime | None = None
) -> None:
    """Replace the file atomically (temp file + rename), so a reader never sees half of it.

    A small synchronous write: from the event loop, call it through ``asyncio.to_thread``.
    """
    target = Path(path)
    fields: dict[str, Any] = asdict(state)
    for name in ("started_at", "last_sweep_at"):
        fields[name] = iso(fields[name]) if fields[name] else None
    payload = json.dumps({**fields, "updated_at": iso(now or utcnow())})
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _sweeper_problem(data: dict[str, Any], now: datetime) -> str | None:
    interval = float(data["sweep_interval_s"])
    limit = max(SWEEP_INTERVALS_ALLOWED * interval, SWEEP_STALL_MIN_S)
    last = data.get("last_sweep_at")
    since = parse_iso(last) if last else parse_iso(data["started_at"])
    age = (now - since).total_seconds()
    if age <= limit:
        return None
    if not last:
        return f"the sweeper has not completed a run in the {age:.0f} s since start"
    return (
        f"the sweeper's last successful run was {age:.0f} s ago "
        f"(limit {limit:.0f} s, {SWEEP_INTERVALS_ALLOWED} sweep intervals): expired grants "
        "are not removed"
    )


def read_health(
    path: str | os.PathLike[str], max_age_s: float = 60, now: datetime | None = None
) -> tuple[bool, str]:
    """(healthy, reason): the reason is one line, naming the first problem found."""
    moment = now or utcnow()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        connected = data["connected"]
        updated_at = parse_iso(data["updated_at"])
        sweeper = _sweeper_problem(data, moment)
        store_problem = data["store_problem"]
    except FileNotFoundError:
        return False, f"no health file at {path} (is the bot running?)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"health file {path} is unreadable ({type(exc).__name__})"
    age = (moment - updated_at).total_seconds()
    if age > max_age_s:
        return (
            False,
            f"health file is {age:.0f} s old (limit {max_age_s:.0f} s): bot stuck or stopped",
        )
    if connected is not True:
        return False, f"not connected to Slack (as of {age:.0f} s ago)"
    if store_problem:
        return False, f"the store is unreachable: {store_problem}"
    if sweeper:
        return False, sweeper
    return True, f"connected to Slack, sweeper and store working (as of {age:.0f} s ago)"
