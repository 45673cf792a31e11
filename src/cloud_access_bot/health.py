"""A liveness file shared by the running bot (writer) and ``cloud-access-bot health`` (reader).

The file is JSON ``{"connected": bool, "updated_at": "<ISO-8601 Z>"}``; the bot rewrites it
periodically, so a stale file means the process is stuck or gone even if it claims a connection.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from cloud_access_bot.domain.model import iso, parse_iso, utcnow


def write_health(
    path: str | os.PathLike[str], connected: bool, now: datetime | None = None
) -> None:
    """Replace the file atomically (temp file + rename), so a reader never sees half of it.

    A small synchronous write: from the event loop, call it through ``asyncio.to_thread``.
    """
    target = Path(path)
    payload = json.dumps({"connected": connected, "updated_at": iso(now or utcnow())})
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_health(
    path: str | os.PathLike[str], max_age_s: float = 60, now: datetime | None = None
) -> tuple[bool, str]:
    """(healthy, reason): healthy if the bot is connected and wrote the file recently."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        connected = data["connected"]
        updated_at = parse_iso(data["updated_at"])
    except FileNotFoundError:
        return False, f"no health file at {path} (is the bot running?)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"health file {path} is unreadable ({type(exc).__name__})"
    age = ((now or utcnow()) - updated_at).total_seconds()
    if age > max_age_s:
        return (
            False,
            f"health file is {age:.0f} s old (limit {max_age_s:.0f} s): bot stuck or stopped",
        )
    if connected is not True:
        return False, f"not connected to Slack (as of {age:.0f} s ago)"
    return True, f"connected to Slack (as of {age:.0f} s ago)"
