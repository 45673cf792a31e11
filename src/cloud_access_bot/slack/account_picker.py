"""The account picker's options: search by name, alias, id, OU path and tags, ranked.

Slack shows at most 100 options; when more accounts match, the options come in a group whose
label says how many matched and to type more, so nothing is ever silently left out. The index
is built once per configuration (thousands of accounts answer in a few milliseconds).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cloud_access_bot.config import AccountConfig, BotConfig

#: Slack's limit on the options of one select.
MAX_OPTIONS = 100


def account_label(name: str, account: AccountConfig) -> str:
    alias = f" ({account.account_alias})" if account.account_alias else ""
    where = f" · {account.ou_path}" if account.ou_path and account.ou_path != "/" else ""
    return f"{name}{alias} – {account.account_number}{where}"[:75]


@dataclass(frozen=True)
class _Entry:
    name: str
    key: str  # the name, lowercased: the order within a rank
    label: str
    exact: frozenset[str]
    names: str
    everything: str


class AccountIndex:
    """What the picker searches, for one configuration."""

    def __init__(self, config: BotConfig) -> None:
        self.config = config
        self._entries = sorted(
            (self._entry(name, account) for name, account in config.accounts.items()),
            key=lambda e: e.key,
        )

    @staticmethod
    def _entry(name: str, account: AccountConfig) -> _Entry:
        alias = account.account_alias or ""
        tags = " ".join(f"{k}={v}" for k, v in account.tags.items())
        names = f"{name} {alias}".lower()
        return _Entry(
            name=name,
            key=name.lower(),
            label=account_label(name, account),
            exact=frozenset({name.lower(), alias.lower(), account.account_number} - {""}),
            names=names,
            everything=f"{names} {account.account_number} {account.ou_path or ''} {tags}".lower(),
        )

    def search(
        self, query: str, recent: Sequence[str] = (), allowed: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """The options payload for ``query``: exact id/name/alias first, then the person's
        ``recent`` account names (most recent first), then names containing the words, then
        accounts whose id, OU path or tags contain them. ``allowed`` limits the accounts to
        those the person may request (None: every account)."""
        wanted = query.strip().lower()
        words = wanted.split()
        entries = self._entries
        if allowed is not None:
            entries = [e for e in entries if e.name in allowed]
        for word in words:  # one pass per word over what is left: thousands in a few ms
            entries = [e for e in entries if word in e.everything]
        recency = {name: i for i, name in enumerate(dict.fromkeys(recent))}

        def rank(entry: _Entry) -> tuple[int, int, str]:
            if wanted and wanted in entry.exact:
                return (0, 0, entry.key)
            if entry.name in recency:
                return (1, recency[entry.name], entry.key)
            return (2 if all(w in entry.names for w in words) else 3, 0, entry.key)

        top = heapq.nsmallest(MAX_OPTIONS, entries, key=rank)
        options = [{"text": {"type": "plain_text", "text": e.label}, "value": e.name} for e in top]
        if len(entries) <= MAX_OPTIONS:
            return {"options": options}
        label = f"{MAX_OPTIONS} of {len(entries):,} accounts: type to narrow"
        return {
            "option_groups": [{"label": {"type": "plain_text", "text": label}, "options": options}]
        }


class AccountPicker:
    """An ``AccountIndex`` kept for the current configuration (rebuilt when it changes)."""

    def __init__(self) -> None:
        self._index: AccountIndex | None = None

    def index(self, config: BotConfig) -> AccountIndex:
        if self._index is None or self._index.config is not config:
            self._index = AccountIndex(config)
        return self._index
