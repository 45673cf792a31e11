"""Who approves and who is told: approver entries as plain values, and the pure choices over
the people they resolve to (no Slack calls here; ``slack/directory.py`` resolves them).

One entry, as written in the configuration, names people in one of four ways:

- a Slack user id: ``U0123ABCD`` (or ``W…`` on Enterprise Grid);
- an email address: ``alice@example.com`` (looked up with ``users.lookupByEmail``);
- a Slack user group: its id ``S0123ABCD`` or its exact handle ``@sre`` (``sre`` works too,
  as in ``approval_groups``);
- the members of a channel: ``#prod-approvers`` or its id ``C0123ABCD`` / ``G0123ABCD``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,}$")
CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9_-]{0,79}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
GROUP_HANDLE = re.compile(r"^@?[a-z0-9][a-z0-9._-]{0,79}$")

ALLOWED = (
    "a Slack user id (U0123ABCD), an email (alice@example.com), a user group id (S0123ABCD) "
    "or handle (@sre), or a channel (#prod-approvers or its id C0123ABCD) for its members"
)


class Kind(StrEnum):
    USER = "user"
    EMAIL = "email"
    GROUP = "group"
    CHANNEL = "channel"


@dataclass(frozen=True, order=True)
class ApproverSpec:
    """One configured entry: what kind of name it is, and the name as written."""

    kind: Kind
    value: str

    def __str__(self) -> str:
        return self.value

    @property
    def mention(self) -> str:
        """How a Slack message names the entry."""
        match self.kind:
            case Kind.USER:
                return f"<@{self.value}>"
            case Kind.GROUP:
                if GROUP_ID.match(self.value):
                    return f"<!subteam^{self.value}>"
                return f"@{self.value.removeprefix('@')}"
            case Kind.CHANNEL:
                return f"<#{self.value}>" if CHANNEL_ID.match(self.value) else self.value
            case Kind.EMAIL:
                return self.value


def parse_approver(text: str) -> ApproverSpec:
    """The entry ``text`` names; ValueError saying what is allowed when it names nothing."""
    value = text.strip()
    if USER_ID.match(value):
        return ApproverSpec(Kind.USER, value)
    if CHANNEL_ID.match(value) or CHANNEL_NAME.match(value):
        return ApproverSpec(Kind.CHANNEL, value)
    if GROUP_ID.match(value):
        return ApproverSpec(Kind.GROUP, value)
    if EMAIL.match(value):
        return ApproverSpec(Kind.EMAIL, value.lower())
    if GROUP_HANDLE.match(value):
        return ApproverSpec(Kind.GROUP, value)
    raise ValueError(f"{text!r} names nobody: use {ALLOWED}")


def groups(names: Iterable[str]) -> tuple[ApproverSpec, ...]:
    """``approval_groups`` entries as approver entries (ids or handles, unchanged)."""
    return tuple(ApproverSpec(Kind.GROUP, name) for name in names)


def merged(*parts: Iterable[ApproverSpec]) -> tuple[ApproverSpec, ...]:
    """The entries of every part, in order, each once."""
    return tuple(dict.fromkeys(spec for part in parts for spec in part))


def describe(specs: Sequence[ApproverSpec]) -> str:
    """The entries as a Slack message names them, for refusals (``nobody`` when empty)."""
    return ", ".join(spec.mention for spec in specs) or "nobody"


def others(people: Sequence[str], requester: Collection[str]) -> list[str]:
    """The people who could decide on a request other than its requester (``requester``: the
    requester's Slack ids, their own and any other account that is the same person)."""
    return [person for person in people if person not in requester]


def deciders(recorded: Sequence[str], current: Collection[str]) -> list[str]:
    """Who may decide now: the approvers recorded at submission who are still approvers
    under the configuration and memberships now (so their earlier approvals still count)."""
    return [person for person in recorded if person in current]


def information_only(notified: Sequence[str], approvers: Collection[str]) -> list[str]:
    """The notified people who are not also approvers: they get the card without buttons."""
    return [person for person in dict.fromkeys(notified) if person not in approvers]


def choose(
    primary: Sequence[str], fallback: Sequence[str], requester: Collection[str]
) -> tuple[list[str], bool]:
    """Who a new request is sent to, and whether the fallback list was needed: the primary
    approvers and, when a ``fallback`` is given (the caller found the primary ones too few
    people other than the requester), the fallback approvers as well, unless the fallback
    names nobody but the requester either."""
    if not others(fallback, requester):
        return list(primary), False
    return list(dict.fromkeys([*primary, *fallback])), True
