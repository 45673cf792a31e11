"""An account as AWS Organizations describes it: plain values, no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class OrgAccount:
    """One ACTIVE member account: its id, name, OU path (``/Workloads/Prod``; ``/`` for the
    root) and tags."""

    account_id: str
    name: str
    ou_path: str = "/"
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class OrgSnapshot:
    """The accounts of one successful listing of the organisation; ``tags_read_at``: when each
    account's tags were last read successfully (epoch seconds; absent when tags are not read)."""

    accounts: tuple[OrgAccount, ...]
    taken_at: float
    tags_read_at: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


def tags_to_read(
    account_ids: Iterable[str],
    read_at: Mapping[str, float],
    *,
    now: float,
    max_age_s: float,
    refresh_s: float,
) -> list[str]:
    """The accounts whose tags a periodic refresh reads: every account whose tags were never
    read, every one older than ``max_age_s``, and the stalest of the rest, enough that a refresh
    every ``refresh_s`` re-reads each account within ``max_age_s`` (``ceil(known × refresh_s ÷
    max_age_s)`` a refresh). Tags rarely change; re-reading thousands of them every refresh
    costs one throttled Organizations call each."""
    ids = list(account_ids)
    unknown = [a for a in ids if a not in read_at]
    known = sorted((a for a in ids if a in read_at), key=lambda a: (read_at[a], a))
    share = math.ceil(len(known) * min(1.0, refresh_s / max_age_s))
    expired = sum(1 for a in known if now - read_at[a] >= max_age_s)
    return unknown + known[: max(share, expired)]


def bot_name(account: OrgAccount) -> str:
    """The name the bot shows and stores for a discovered account: its Organizations name with
    anything outside ``[A-Za-z0-9_.-]`` turned into ``-`` (``Payments Prod`` →
    ``Payments-Prod``), or its id when nothing usable is left."""
    name = _NOT_IN_NAME.sub("-", account.name).strip("-._")[:64]
    return name or account.account_id
