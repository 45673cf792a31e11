"""Options for the account pickers (the request modal's and the preset modal's)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.eligibility import Requestable
from cloud_access_bot.ports import Directory
from cloud_access_bot.slack import views
from cloud_access_bot.slack.account_picker import AccountPicker
from cloud_access_bot.slack.commands import PRESET_ACCOUNT_ACTION

log = logging.getLogger(__name__)

#: How many of the person's latest requests say which accounts they used recently.
RECENT_REQUESTS = 20


def register(
    app: AsyncApp,
    *,
    config: Callable[[], BotConfig],
    history: Callable[[str, int], Awaitable[Sequence[AccessRequest]]],
    directory: Directory,
) -> None:
    """``history(user_id, limit)`` is the person's requests, newest first (the store's
    ``for_user``); if it fails the picker still answers, unranked by recency. Only the
    accounts the person may request are offered (submit checks again)."""
    picker = AccountPicker()
    requestable = Requestable(directory)

    async def on_account_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        user_id = str(body.get("user", {}).get("id", ""))
        current = config()
        try:
            recent = [r.account_name for r in await history(user_id, RECENT_REQUESTS)]
        except Exception:
            log.warning("recent accounts unavailable for the picker", exc_info=True)
            recent = []
        allowed = await requestable.accounts(current, user_id)
        # Indexing thousands of accounts (once per configuration) is done off the event loop.
        index = await asyncio.to_thread(picker.index, current)
        answer = index.search(str(body.get("value") or ""), recent, allowed)
        await ack(**answer)

    app.options(views.ACCOUNT_ACTION)(on_account_options)
    app.options(PRESET_ACCOUNT_ACTION)(on_account_options)
    app.options(views.ALSO_ACCOUNTS_ACTION)(on_account_options)
