"""Options for the account pickers (the request modal's and the preset modal's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.ports import Directory
from cloud_access_bot.slack import views
from cloud_access_bot.slack.commands import PRESET_ACCOUNT_ACTION
from cloud_access_bot.slack.keystrokes import AccountKeystrokes


def register(
    app: AsyncApp,
    *,
    config: Callable[[], BotConfig],
    history: Callable[[str, int], Awaitable[Sequence[AccessRequest]]],
    directory: Directory,
) -> None:
    """``history(user_id, limit)`` is the person's requests, newest first (the store's
    ``for_user``). Only the accounts the person may request are offered (submit checks
    again)."""
    keystrokes = AccountKeystrokes(config, history, directory)

    async def on_account_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        answer = await keystrokes.answer(
            str(body.get("user", {}).get("id", "")),
            str((body.get("view") or {}).get("id", "")),
            str(body.get("value") or ""),
        )
        await ack(**answer)

    app.options(views.ACCOUNT_ACTION)(on_account_options)
    app.options(PRESET_ACCOUNT_ACTION)(on_account_options)
    app.options(views.ALSO_ACCOUNTS_ACTION)(on_account_options)
