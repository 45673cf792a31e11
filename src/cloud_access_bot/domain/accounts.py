"""An account as AWS Organizations describes it: plain values, no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    """The accounts of one successful listing of the organisation."""

    accounts: tuple[OrgAccount, ...]
    taken_at: float


def bot_name(account: OrgAccount) -> str:
    """The name the bot shows and stores for a discovered account: its Organizations name with
    anything outside ``[A-Za-z0-9_.-]`` turned into ``-`` (``Payments Prod`` →
    ``Payments-Prod``), or its id when nothing usable is left."""
    name = _NOT_IN_NAME.sub("-", account.name).strip("-._")[:64]
    return name or account.account_id
