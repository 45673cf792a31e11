"""``/request accounts refresh``: list AWS Organizations again now (admins only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cloud_access_bot.config import BotConfig
from cloud_access_bot.ports import Directory
from cloud_access_bot.slack.listeners.shared import Subcommand

USAGE = "Usage: `accounts refresh` lists AWS Organizations again now (admins only)."


def accounts_subcommand(
    *, config: Callable[[], BotConfig], refresh: Callable[[], Awaitable[bool]], directory: Directory
) -> Subcommand:
    """``config`` is the effective configuration; ``refresh`` lists the organisation again."""

    async def handle(user_id: str, args: list[str], body: dict[str, Any]) -> str:
        if args[:1] != ["refresh"]:
            return USAGE
        current = config()
        if current.organizations is None:
            return "The configuration has no `organizations:` section: accounts come from the file."
        admins = current.admin_groups
        if not admins or user_id not in await directory.members_of(admins, fresh=True):
            return "Only members of the admin groups (`admin_groups`) may refresh the account list."
        listed = await refresh()
        count = len(config().accounts)
        if listed:
            return f"Listed AWS Organizations again: the bot offers {count} accounts."
        return (
            f"Listing AWS Organizations failed, so the bot keeps the last good list ({count} "
            "accounts); the bot's log says why."
        )

    return handle
