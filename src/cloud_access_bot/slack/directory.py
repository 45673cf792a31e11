"""Who is in which Slack user group, and users' email addresses (with short caches).

Configured groups are matched **exactly**: by id (``S…``) or by handle (``@devops``, compared
case-insensitively as Slack does). Display names never match: anyone who may create a user
group can name it ``devops``, and a name that took over a configured handle would route the
approval DMs, and the right to approve, to its members. A configured group that matches no
group, or more than one, resolves to nobody (and is a configuration error reported by
:func:`group_problems` at start and in ``check-config``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.people import Person
from cloud_access_bot.ports import DirectoryUnavailable

log = logging.getLogger(__name__)

#: usergroups.* on a workspace without user groups (Slack's free plan).
PLAN_UPGRADE_REQUIRED = "plan_upgrade_required"
FREE_PLAN_MESSAGE = (
    "Approvers are Slack user groups, and this Slack workspace's plan has none "
    "(usergroups.list answered plan_upgrade_required). Nothing was stored. A Slack admin "
    "must upgrade the workspace's plan before requests can be approved."
)


@dataclass(frozen=True)
class Group:
    id: str
    handle: str
    name: str


def match_group(configured: str, groups: Iterable[Group]) -> list[Group]:
    """The groups ``configured`` names exactly: its id, or its handle (with or without @)."""
    wanted = configured.strip()
    handle = wanted.removeprefix("@").casefold()
    return [g for g in groups if g.id == wanted or g.handle.casefold() == handle]


def group_problem(configured: str, groups: Sequence[Group]) -> str | None:
    """Why ``configured`` does not name exactly one group (None when it does)."""
    found = match_group(configured, groups)
    if len(found) == 1:
        return None
    if found:
        ids = ", ".join(f"{g.id} (@{g.handle})" for g in found)
        return f"{configured!r} matches several Slack user groups: {ids}; use the group id."
    named = [g for g in groups if g.name.casefold() == configured.strip().casefold()]
    hint = (
        f" A group is *named* {configured!r} (handle @{named[0].handle}, id {named[0].id}), "
        "but display names never match: use the handle or the id."
        if named
        else " Use the group's handle (without @) or its id (S…)."
    )
    return f"{configured!r} is not the handle or id of any Slack user group.{hint}"


class SlackDirectory:
    """Resolves configured user groups to active members.

    Group lists and memberships are cached for ``ttl`` seconds (large workspaces hit tier-2
    rate limits otherwise); ``fresh=True`` re-reads memberships, which is
    how a click is authorised against *current* membership. Deactivated users and bots are
    skipped; a group that is unknown or ambiguous is logged and resolves to nobody.
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
        self._groups: tuple[float, list[Group]] | None = None
        self._members: dict[str, tuple[float, list[str]]] = {}
        self._users: dict[str, tuple[float, dict[str, Any]]] = {}

    async def members_of(self, groups: Sequence[str], *, fresh: bool = False) -> list[str]:
        ids = await self._group_ids(groups, fresh=fresh)
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
            name=str(user.get("real_name") or user.get("profile", {}).get("real_name") or "")
            or None,
        )

    async def group_problems(self, config: BotConfig) -> list[str]:
        """Every configured approval or admin group that does not name exactly one Slack user
        group, one line each with its config key (empty when all resolve)."""
        try:
            groups = await self._list_groups(fresh=True)
        except DirectoryUnavailable as error:
            return [str(error)]
        problems = []
        for key, configured in configured_groups(config):
            problem = group_problem(configured, groups)
            if problem:
                problems.append(f"{key}: {problem}")
        return problems

    async def _list_groups(self, *, fresh: bool) -> list[Group]:
        now = self._clock()
        if self._groups is None or fresh or now - self._groups[0] > self._ttl:
            try:
                response = await self._client.usergroups_list()
            except SlackApiError as error:
                if error.response.get("error") == PLAN_UPGRADE_REQUIRED:
                    raise DirectoryUnavailable(FREE_PLAN_MESSAGE) from None
                raise
            listed: list[dict[str, Any]] = response.get("usergroups", [])
            groups = [
                Group(str(g["id"]), str(g.get("handle") or ""), str(g.get("name") or ""))
                for g in listed
                if g.get("id")
            ]
            self._groups = (now, groups)
        return self._groups[1]

    async def _group_ids(self, groups: Sequence[str], *, fresh: bool) -> list[str]:
        # The group list itself is cached even for a fresh lookup (usergroups.list is tier 2);
        # memberships, which change far more often, are re-read. A fresh lookup of a group
        # the cached list lacks (created since) reads the list again.
        listed = await self._list_groups(fresh=False)
        if fresh and any(group_problem(g, listed) for g in groups):
            listed = await self._list_groups(fresh=True)
        found: list[str] = []
        for configured in groups:
            problem = group_problem(configured, listed)
            if problem:
                log.warning("approval group ignored: %s", problem)
                continue
            group_id = match_group(configured, listed)[0].id
            if group_id not in found:
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
            if error.response.get("error") == PLAN_UPGRADE_REQUIRED:
                raise DirectoryUnavailable(FREE_PLAN_MESSAGE) from None
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

    async def is_active(self, user_id: str) -> bool:
        self._users.pop(user_id, None)
        return await self._is_active(user_id)

    async def _is_active(self, user_id: str) -> bool:
        user = await self._user(user_id)
        return user is not None and not user.get("deleted") and not user.get("is_bot")


async def check_groups(client: AsyncWebClient, config: BotConfig) -> list[str]:
    """Problems with the configured approval and admin groups in this workspace (one line
    each, naming the config key), or the free-plan problem: for the start-up check and
    ``check-config``."""
    return await SlackDirectory(client).group_problems(config)


def configured_groups(config: BotConfig) -> list[tuple[str, str]]:
    """(config key, group) for every approval and admin group the configuration names."""
    found = [(f"approvalGroups.{i}", g) for i, g in enumerate(config.approval_groups)]
    for name, account in config.accounts.items():
        found.extend(
            (f"accounts.{name}.approval_groups.{i}", g)
            for i, g in enumerate(account.approval_groups or [])
        )
    found.extend((f"admin_groups.{i}", g) for i, g in enumerate(config.admin_groups))
    return found
