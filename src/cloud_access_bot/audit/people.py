"""Names and emails next to Slack ids in audit answers: ``Alice Example <alice@acme.com> (U123)``.

Ids are resolved through the Directory port (Slack's users.info, cached by the directory), each
once per answer. An id the directory cannot resolve (unknown to Slack, a Slack error, or no
directory: the CLI without SLACK_BOT_TOKEN) stays the bare id. Only answers read by people get
names (the CLI's table format and Slack): JSON, CSV and ``audit export`` keep ids, as the
archive does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence

from cloud_access_bot.audit.export import Row
from cloud_access_bot.domain.people import Person
from cloud_access_bot.ports import Directory

#: Row columns holding Slack user ids.
PERSON_COLUMNS = ("requester", "user", "approved_by", "decided_by", "actor")
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
#: Lookups at once (users.info is tier 4: 100 a minute).
AT_ONCE = 5


def label(person: Person) -> str:
    """``Name <email> (id)``, leaving out what Slack does not say; a deactivated person is
    still named (the trail outlives accounts), and marked so."""
    shown = " ".join(
        part for part in (person.name, f"<{person.email}>" if person.email else None) if part
    )
    if not shown:
        return person.user_id
    return f"{shown} ({person.user_id}{', deactivated' if person.deactivated else ''})"


async def names(directory: Directory | None, ids: Iterable[str]) -> dict[str, str]:
    """A label per Slack id the directory resolves (others are left out)."""
    wanted = sorted({i for i in ids if SLACK_ID.match(i)})
    if directory is None or not wanted:
        return {}
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(user_id: str) -> Person | None:
        async with gate:
            try:
                return await directory.person(user_id)
            except Exception:  # a directory that cannot answer leaves the bare id
                return None

    people = await asyncio.gather(*(one(i) for i in wanted))
    return {p.user_id: label(p) for p in people if p is not None}


def named(rows: Sequence[Row], labels: Mapping[str, str]) -> list[Row]:
    """The rows with each known id in a person column replaced by its label."""

    def of(value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            return [labels.get(v, v) for v in value]
        return labels.get(value, value)

    return [{c: of(v) if c in PERSON_COLUMNS else v for c, v in row.items()} for row in rows]
