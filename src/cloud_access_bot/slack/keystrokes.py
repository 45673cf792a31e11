"""What an account picker answers to each keystroke.

Slack asks for options on every keystroke in an external select, so typing one account's name
is a dozen requests in a few seconds, each to be answered well inside Slack's 3 s. Each answer
needs the person's recent accounts (a DynamoDB query: they rank first) and the accounts they
may request (their Slack profile and groups: only those are offered). Neither changes while
one modal is open, so both are looked up on the modal's first keystroke and recalled for the
others (keyed by person and modal, for at most ``RECALL_SECONDS``): a new modal looks them up
again, so a request just made ranks its account first the next time. Nothing here decides
what is granted: the ranking only orders options, and submit checks eligibility again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.eligibility import Requestable
from cloud_access_bot.ports import Directory
from cloud_access_bot.slack.account_picker import AccountPicker

log = logging.getLogger(__name__)

#: How many of the person's latest requests say which accounts they used recently.
RECENT_REQUESTS = 20
#: The longest one modal's lookups are recalled for.
RECALL_SECONDS = 60.0
#: Modals recalled at once (the oldest is forgotten first).
MAX_RECALLED = 1000


@dataclass(frozen=True)
class _Recalled:
    at: float
    config: BotConfig  # what may be requested depends on the configuration in force
    recent: tuple[str, ...]
    allowed: frozenset[str]


class AccountKeystrokes:
    """The options for one keystroke in an account picker (``answer``).

    ``history(user_id, limit)`` is the person's requests, newest first (the store's
    ``for_user``); if it fails the picker still answers, unranked by recency, and looks it up
    again on the next keystroke."""

    def __init__(
        self,
        config: Callable[[], BotConfig],
        history: Callable[[str, int], Awaitable[Sequence[AccessRequest]]],
        directory: Directory,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._history = history
        self._requestable = Requestable(directory)
        self._picker = AccountPicker()
        self._clock = clock
        self._recalled: OrderedDict[tuple[str, str], _Recalled] = OrderedDict()
        #: One copy of each distinct set of requestable accounts (people mostly share a few):
        #: 5,000 account names are ~260 KB, too much to hold once per modal.
        self._allowed: tuple[BotConfig, dict[frozenset[str], frozenset[str]]] | None = None

    async def answer(self, user_id: str, view_id: str, query: str) -> dict[str, Any]:
        """The options payload for ``query`` typed by ``user_id`` in the modal ``view_id``
        (empty: not recalled)."""
        current = self._config()
        recalled = await self._lookups(user_id, view_id, current)
        # Indexing thousands of accounts (once per configuration) is done off the event loop.
        index = await asyncio.to_thread(self._picker.index, current)
        return index.search(query, recalled.recent, recalled.allowed)

    async def _lookups(self, user_id: str, view_id: str, config: BotConfig) -> _Recalled:
        key = (user_id, view_id)
        now = self._clock()
        found = self._recalled.get(key)
        if found and found.config is config and now - found.at < RECALL_SECONDS:
            return found
        try:
            recent = tuple(r.account_name for r in await self._history(user_id, RECENT_REQUESTS))
        except Exception:
            log.warning("recent accounts unavailable for the picker", exc_info=True)
            recent = None
        allowed = self._shared(config, await self._requestable.accounts(config, user_id))
        looked_up = _Recalled(now, config, recent or (), allowed)
        if view_id and recent is not None:
            self._recalled.pop(key, None)
            self._recalled[key] = looked_up
            self._forget(now)
        return looked_up

    def _shared(self, config: BotConfig, allowed: frozenset[str]) -> frozenset[str]:
        if self._allowed is None or self._allowed[0] is not config:
            self._allowed = (config, {})
        return self._allowed[1].setdefault(allowed, allowed)

    def _forget(self, now: float) -> None:
        """Drop what is too old or too much (the oldest looked up first)."""
        while self._recalled and (
            len(self._recalled) > MAX_RECALLED
            or now - next(iter(self._recalled.values())).at >= RECALL_SECONDS
        ):
            self._recalled.popitem(last=False)
