"""What an approver is shown of a request: nothing granted may be left out.

A message about a request shows either every action and resource (when they fit one Slack
text) or, per service, a summary: counts per access level and every wildcard pattern exactly
as the requester wrote it. The complete list opens in a modal, split into sections. Both
shapes are bounded here, so a request that could not be shown completely is refused at
submit (:func:`presentation_problem`) instead of being shown cut short.

Texts are plain (not mrkdwn): they show what the requester typed and can never format,
mention or link anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from cloud_access_bot.domain.model import ServiceAccess

#: Slack's limit for one text object.
TEXT_CHARS = 3000
#: Sections of the complete list in one modal: Slack allows 100 blocks, the rest of the
#: modal (a header and a context line) takes 2.
MODAL_SECTIONS = 98
#: Room for the wildcard patterns of one service's summary (the rest of its text: counts).
WILDCARD_CHARS = 2500
UNKNOWN_LEVEL = "Unknown"


def is_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def access_levels(
    services: Iterable[ServiceAccess], level_of: Callable[[str], str | None]
) -> dict[str, dict[str, int]]:
    """Per service, how many of its actions fall in each access level (Read, Write…)."""
    levels: dict[str, dict[str, int]] = {}
    for access in services:
        counted = Counter(level_of(a) or UNKNOWN_LEVEL for a in access.actions)
        levels[access.service] = dict(sorted(counted.items()))
    return levels


def summary(access: ServiceAccess, levels: Mapping[str, int] | None) -> str:
    """One service in a few lines: counts per access level and every wildcard pattern."""
    actions, resources = len(access.actions), len(access.resources)
    lines = [
        f"{access.service}: {actions} action{'s' if actions != 1 else ''} on "
        f"{resources} resource{'s' if resources != 1 else ''}"
    ]
    if levels:
        lines.append("Access levels: " + ", ".join(f"{k} {v}" for k, v in levels.items()))
    wild_actions = [a for a in access.actions if is_wildcard(a)]
    wild_resources = [r for r in access.resources if is_wildcard(r)]
    if wild_actions:
        lines.append("Wildcard actions: " + "  ".join(wild_actions))
    if wild_resources:
        lines.append("Wildcard resources: " + "  ".join(wild_resources))
    if not (wild_actions or wild_resources):
        lines.append("No wildcards.")
    return "\n".join(lines)


def full_lines(services: Sequence[ServiceAccess]) -> list[str]:
    lines: list[str] = []
    for access in services:
        lines.append(f"{access.service} — actions ({len(access.actions)}):")
        lines.extend(f"  {a}" for a in access.actions)
        lines.append(f"{access.service} — resources ({len(access.resources)}):")
        lines.extend(f"  {r}" for r in access.resources)
    return lines


def sections(lines: Iterable[str], limit: int = TEXT_CHARS) -> list[str]:
    """``lines`` joined into texts of at most ``limit`` characters, never splitting a line
    (a longer line, which no ARN is, is cut into pieces of ``limit``)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        for piece in [line[i : i + limit] for i in range(0, len(line), limit)] or [""]:
            joined = f"{current}\n{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
                continue
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def presentation_problem(services: Sequence[ServiceAccess]) -> str | None:
    """Why this request cannot be shown to an approver completely, else None."""
    pages = sections(full_lines(services))
    if len(pages) > MODAL_SECTIONS:
        count = sum(len(s.actions) + len(s.resources) for s in services)
        return (
            f"This request lists {count} actions and resources, more than an approver can be "
            f"shown in full ({MODAL_SECTIONS} sections of {TEXT_CHARS} characters). Split it "
            "into several requests, e.g. one per service or per group of resources."
        )
    for access in services:
        wild = [p for p in (*access.actions, *access.resources) if is_wildcard(p)]
        if sum(len(p) + 2 for p in wild) > WILDCARD_CHARS:
            return (
                f"{access.service}: {len(wild)} wildcard patterns are more than an approval "
                f"message can show ({WILDCARD_CHARS} characters). Use fewer patterns, or split "
                "the request into several."
            )
    return None
