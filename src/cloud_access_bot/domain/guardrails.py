"""What may be requested at all, whoever approves it.

IAM action patterns use ``*`` (any run of characters) and ``?`` (one character) and compare
case-insensitively. A request may itself hold a pattern (``iam:Get*``, from a preset or typed
by hand), so refusing needs two pattern-vs-pattern questions besides plain matching:

- *overlap*: could one action match both patterns? ``iam:Get*`` overlaps the forbidden
  ``iam:*``, so it is refused even though neither string matches the other literally;
- *coverage*: does an allowed exception match every action the requested pattern could? Only
  then does the exception lift the refusal (``iam:*`` allowed covers ``iam:Get*``; ``iam:GetRole``
  allowed does not cover ``iam:Get*``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from cloud_access_bot.config import BotConfig

PERMISSIONS_MANAGEMENT = "Permissions management"


@dataclass(frozen=True)
class Refusal:
    """A requested action that may not be granted, with the reason shown to the requester."""

    action: str
    reason: str


def patterns_overlap(first: str, second: str) -> bool:
    """Whether some action name matches both patterns (a plain name is a pattern too)."""
    a, b = first.lower(), second.lower()

    @cache
    def overlap(i: int, j: int) -> bool:
        if i < len(a) and a[i] == "*":
            return overlap(i + 1, j) or (j < len(b) and overlap(i, j + 1))
        if j < len(b) and b[j] == "*":
            return overlap(i, j + 1) or (i < len(a) and overlap(i + 1, j))
        if i == len(a) or j == len(b):
            return i == len(a) and j == len(b)
        return (a[i] == b[j] or "?" in (a[i], b[j])) and overlap(i + 1, j + 1)

    return overlap(0, 0)


def pattern_covers(allowed: str, requested: str) -> bool:
    """Whether every action matched by ``requested`` is matched by ``allowed``.

    Exact for plain action names. For requested wildcards it is conservative: the requested
    pattern is read as text in which its ``*`` can only sit inside an allowed ``*`` and its ``?``
    only under an allowed ``?`` or ``*`` — when in doubt the answer is "not covered".
    """
    a, r = allowed.lower(), requested.lower()

    @cache
    def covers(i: int, j: int) -> bool:
        if i < len(a) and a[i] == "*":
            return covers(i + 1, j) or (j < len(r) and covers(i, j + 1))
        if i == len(a) or j == len(r):
            return i == len(a) and j == len(r)
        if r[j] == "*":
            return False
        return (a[i] == r[j] or a[i] == "?") and covers(i + 1, j + 1)

    return covers(0, 0)


def refused_actions(
    actions: Iterable[str],
    *,
    config: BotConfig,
    account_name: str,
    access_level: Callable[[str], str | None],
) -> list[Refusal]:
    """The requested actions that may not be granted in the account, each with its reason.

    Refused: anything overlapping ``never_grantable_actions``, and, when
    ``deny_permissions_management`` is on, anything whose access level is Permissions
    management — unless the account's ``allowed_dangerous_actions`` covers it.
    ``access_level`` gets each action as requested; for a wildcard it should answer the most
    powerful level among the actions the wildcard matches (or None when unknown).
    """
    account = config.account(account_name)
    allowed = account.allowed_dangerous_actions if account else []
    refusals = []
    for action in actions:
        if any(pattern_covers(pattern, action) for pattern in allowed):
            continue
        forbidden = [p for p in config.never_grantable_actions if patterns_overlap(p, action)]
        if forbidden:
            is_plain = "*" not in action and "?" not in action
            what = "is never grantable" if is_plain else "includes actions that are never grantable"
            refusals.append(
                Refusal(
                    action,
                    f"{action} {what} (never_grantable_actions: {', '.join(forbidden)}); "
                    f"ask an admin to allow it for {account_name} (allowed_dangerous_actions)",
                )
            )
        elif config.deny_permissions_management and access_level(action) == PERMISSIONS_MANAGEMENT:
            refusals.append(
                Refusal(
                    action,
                    f"{action} is Permissions management access, which this bot does not grant "
                    f"(deny_permissions_management); ask an admin to allow it for "
                    f"{account_name} (allowed_dangerous_actions)",
                )
            )
    return refusals


def check_duration(minutes: int, *, config: BotConfig, account_name: str) -> str | None:
    """None when the duration may be requested in the account, else why it may not."""
    if config.account(account_name) is None:
        return f"{account_name} is not a configured account"
    cap = config.max_duration_for(account_name)
    if minutes > cap:
        return f"{minutes} minutes is longer than the {cap}-minute maximum for {account_name}"
    offered = config.durations_for(account_name)
    if minutes not in offered:
        listed = ", ".join(str(m) for m in offered)
        return f"{minutes} minutes is not an offered duration for {account_name} ({listed} minutes)"
    return None
