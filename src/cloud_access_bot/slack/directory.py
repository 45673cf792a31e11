"""Who is in which Slack user group, and users' email addresses (with short caches)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.domain.people import Person

log = logging.getLogger(__name__)


class SlackDirectory:
    """Resolves user-group handles or names to active members.

    Group lists and memberships are cached for ``ttl`` seconds (large workspaces hit tier-2
    rate limits otherwise); ``fresh=True`` re-reads membership, which is how a click is
    authorised against *current* membership. Deactivated users and bots are skipped, and a
    group that no longer exists is logged and ignored instead of breaking the request.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._groups: tuple[float, dict[str, str]] | None = None
        self._members: dict[str, tuple[float, list[str]]] = {}
        self._users: dict[str, tuple[float, dict[str, Any]]] = {}

    async def members_of(self, groups: Sequence[str], *, fresh: bool = False) -> list[str]:
        ids = await self._group_ids(groups)
        members: list[str] = []
        for group_id in ids:
            for user_id in await self._group_members(group_id, fresh=fresh):
                if user_id not in members and await self._is_active(user_id):
                    members.append(user_id)
        return members

    async def email_of(self, user_id: str) -> str | None:
        user = await self._user(user_id)
        email = (user or {}).get("profile", {}).get("email")
        return str(email) if email else None

    async def person(self, user_id: str) -> Person | None:
        user = await self._user(user_id)
        if user is None:
            return None
        email = user.get("profile", {}).get("email")
        return Person(
            user_id=user_id,
            email=str(email) if email else None,
            guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            deactivated=bool(user.get("deleted")),
        )

    async def _group_ids(self, groups: Sequence[str]) -> list[str]:
        now = self._clock()
        if self._groups is None or now - self._groups[0] > self._ttl:
            response = await self._client.usergroups_list()
            index: dict[str, str] = {}
            listed_groups: list[dict[str, Any]] = response.get("usergroups", [])
            for group in listed_groups:
                for key in (group.get("id"), group.get("handle"), group.get("name")):
                    if key:
                        index[str(key).lower()] = str(group["id"])
            self._groups = (now, index)
        index = self._groups[1]
        found = []
        for name in groups:
            group_id = index.get(name.lstrip("@").lower())
            if group_id is None:
                log.warning("approval group %r not found in Slack", name)
            elif group_id not in found:
                found.append(group_id)
        return found

    async def _group_members(self, group_id: str, *, fresh: bool) -> list[str]:
        now = self._clock()
        cached = self._members.get(group_id)
        if cached and not fresh and now - cached[0] <= self._ttl:
            return cached[1]
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as error:
            log.warning("cannot list members of %s: %s", group_id, error.response.get("error"))
            return []
        listed: list[Any] = response.get("users", [])
        users = [str(u) for u in listed]
        self._members[group_id] = (now, users)
        return users

    async def _user(self, user_id: str) -> dict[str, Any] | None:
        now = self._clock()
        cached = self._users.get(user_id)
        if cached and now - cached[0] <= self._ttl * 5:
            return cached[1]
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as error:
            log.info("user %s not resolvable: %s", user_id, error.response.get("error"))
            return None
        user = dict(response.get("user") or {})
        self._users[user_id] = (now, user)
        return user

    async def _is_active(self, user_id: str) -> bool:
        user = await self._user(user_id)
        return user is not None and not user.get("deleted") and not user.get("is_bot")
