"""Who is in which Slack user group, and users' email addresses (with short caches).

Configured groups are matched **exactly**: by id (``S…``) or by handle (``@devops``, compared
case-insensitively as Slack does). Display names never match: anyone who may create a user
group can name it ``devops``, and a name that took over a configured handle would route the
approval DMs, and the right to approve, to its members. A configured group that matches no
group, or more than one, resolves to nobody (and is a configuration error reported by
:func:`group_problems` at start and in ``check-config``).

Approvers may also be named as user ids, emails (``users.lookupByEmail``) and channels, for
their members (``conversations.members``, every page); a channel is named by id or by its exact
``#name`` (``conversations.list``). :meth:`SlackDirectory.resolve` turns such entries into the
active people they name; :func:`approver_problems` reports entries that name nobody.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.approvers import (
    CHANNEL_ID,
    ApproverSpec,
    Kind,
    parse_approver,
)
from cloud_access_bot.domain.people import Person
from cloud_access_bot.ports import DirectoryUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

#: usergroups.* on a workspace without user groups (Slack's free plan).
PLAN_UPGRADE_REQUIRED = "plan_upgrade_required"
FREE_PLAN_MESSAGE = (
    "Approvers are Slack user groups, and this Slack workspace's plan has none "
    "(usergroups.list answered plan_upgrade_required). Nothing was stored. A Slack admin "
    "must upgrade the workspace's plan before requests can be approved, or the bot's admins "
    "can name approvers by user id, email or #channel instead (approvers)."
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
        self._emails: dict[str, tuple[float, str]] = {}
        self._channels: tuple[float, dict[str, str]] | None = None
        self._channel_members: dict[str, tuple[float, list[str]]] = {}
        #: The bot's own team and Enterprise Grid organisation ids (``auth.test``), once read.
        self._home: tuple[str, str] | None = None
        #: Ids of the public channels among those last listed (``approver_warnings``).
        self._public_channels: set[str] = set()
        #: Slack reads in flight (``_shared``).
        self._reading: dict[tuple[str, str], asyncio.Future[Any]] = {}

    async def resolve(self, specs: Sequence[ApproverSpec], *, fresh: bool = False) -> list[str]:
        """The active people the entries name, each once, in entry order (an entry naming
        nobody is logged and adds nobody). ``fresh`` re-reads memberships (groups, channels,
        emails); whether each person is active comes from the user cache (``ttl``), as
        ``members_of`` does: re-reading every member at every click costs one ``users.info``
        per member per click, which 50 approvers clicking at once turned into 2,500 calls."""
        people: list[str] = []
        for spec in specs:
            for user_id in await self._named(spec, fresh=fresh):
                if user_id not in people and await self._is_active(user_id):
                    people.append(user_id)
        return people

    async def channel_id(self, channel: str, *, fresh: bool = False) -> str | None:
        """The id of the channel named by id (``C…``/``G…``) or exact ``#name`` that the bot
        can see; None when there is none."""
        if CHANNEL_ID.match(channel):
            return channel
        wanted = channel.removeprefix("#")
        found = (await self._list_channels(fresh=fresh)).get(wanted)
        if found is None and not fresh:
            found = (await self._list_channels(fresh=True)).get(wanted)
        return found

    async def _named(self, spec: ApproverSpec, *, fresh: bool) -> list[str]:
        match spec.kind:
            case Kind.USER:
                return [spec.value]
            case Kind.EMAIL:
                user_id = await self._user_by_email(spec.value, fresh=fresh)
                return [user_id] if user_id else []
            case Kind.GROUP:
                return await self.members_of([spec.value], fresh=fresh)
            case Kind.CHANNEL:
                channel_id = await self.channel_id(spec.value)
                if channel_id is None:
                    log.warning("approver channel %s ignored: the bot cannot see it", spec.value)
                    return []
                members = await self._members_of_channel(channel_id, fresh=fresh)
                # Guests and people of other organisations (a shared, Slack Connect channel)
                # are in channels without being members of the workspace: a channel names its
                # full members only (an entry of its own names anyone).
                return [m for m in members if await self._full_member(m)]

    async def _full_member(self, user_id: str) -> bool:
        """Not a guest, and of this workspace (or of its Enterprise Grid organisation);
        False when the bot's own team cannot be read (nobody is taken on trust)."""
        user = await self._user(user_id) or {}
        if user.get("is_restricted") or user.get("is_ultra_restricted"):
            return False
        if self._home is None:
            try:
                found = await self._client.auth_test()
            except SlackApiError as error:
                log.warning("cannot read the bot's team: %s", error.response.get("error"))
                return False
            self._home = (str(found.get("team_id") or ""), str(found.get("enterprise_id") or ""))
        team, enterprise = self._home
        theirs = str((user.get("enterprise_user") or {}).get("enterprise_id") or "")
        return user.get("team_id") == team or bool(enterprise and theirs == enterprise)

    def _hit(self, cache: Mapping[str, tuple[float, T]], key: str, fresh: bool) -> T | None:
        """The cached value when it may be used: not asked fresh, and within the ttl."""
        entry = cache.get(key)
        if entry and not fresh and self._clock() - entry[0] <= self._ttl:
            return entry[1]
        return None

    async def _user_by_email(self, email: str, *, fresh: bool) -> str | None:
        now = self._clock()
        if (cached := self._hit(self._emails, email, fresh)) is not None:
            return cached
        try:
            response = await self._client.users_lookupByEmail(email=email)
        except SlackApiError as error:
            log.info("no Slack user for an approver email: %s", error.response.get("error"))
            return None
        user = dict(response.get("user") or {})
        user_id = str(user["id"]) if user.get("id") else None
        if user_id:
            self._users[user_id] = (now, user)
            self._emails[email] = (now, user_id)
        return user_id

    async def _list_channels(self, *, fresh: bool) -> dict[str, str]:
        """Channel name → id of every channel the bot can see (all pages)."""
        now = self._clock()
        if self._channels is None or fresh or now - self._channels[0] > self._ttl:
            listed: dict[str, str] = {}
            public: set[str] = set()
            try:
                async for page in await self._client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=200
                ):
                    for channel in page.get("channels", []):
                        listed[str(channel.get("name"))] = str(channel.get("id"))
                        if not channel.get("is_private"):
                            public.add(str(channel.get("id")))
            except SlackApiError as error:
                log.warning("cannot list channels: %s", error.response.get("error"))
                return self._channels[1] if self._channels else {}
            self._channels = (now, listed)
            self._public_channels = public
        return self._channels[1]

    async def _members_of_channel(self, channel_id: str, *, fresh: bool) -> list[str]:
        """Everyone in the channel (all pages); nobody when Slack refuses."""
        now = self._clock()
        if (cached := self._hit(self._channel_members, channel_id, fresh)) is not None:
            return cached
        members: list[str] = []
        try:
            async for page in await self._client.conversations_members(
                channel=channel_id, limit=200
            ):
                members.extend(str(m) for m in page.get("members", []))
        except SlackApiError as error:
            log.warning("cannot list members of %s: %s", channel_id, error.response.get("error"))
            return []
        self._channel_members[channel_id] = (now, members)
        return members

    async def entry_problem(self, entry: str) -> str | None:
        """Why a configured approver entry names nobody active (None when it names someone)."""
        spec = parse_approver(entry)
        if spec.kind is Kind.GROUP:
            try:
                problem = group_problem(spec.value, await self._list_groups(fresh=False))
            except DirectoryUnavailable as unavailable:
                return f"{entry!r}: {unavailable}"
            if problem:
                return problem
        if spec.kind is Kind.EMAIL and not await self._user_by_email(spec.value, fresh=True):
            return f"{entry!r}: no Slack user has this email."
        if spec.kind is Kind.CHANNEL and not await self.channel_id(spec.value, fresh=True):
            return (
                f"{entry!r}: no channel of this name or id that the bot can see (a private "
                "channel must invite the bot)."
            )
        if spec.kind is Kind.USER and await self._user(spec.value) is None:
            return f"{entry!r}: no Slack user has this id."
        if not await self.resolve([spec], fresh=True):
            return f"{entry!r} names nobody who is an active member of the workspace."
        return None

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
        named = configured_groups(config)
        try:
            groups = await self._list_groups(fresh=True) if named else []
        except DirectoryUnavailable as error:
            return [str(error)]
        problems = []
        for key, configured in named:
            problem = group_problem(configured, groups)
            if problem:
                problems.append(f"{key}: {problem}")
        return problems + await self.approver_problems(config)

    async def approver_problems(self, config: BotConfig) -> list[str]:
        """Every ``approvers``, ``fallback_approvers`` and ``notify`` entry that names nobody
        active, and every ``approval_channel`` the bot cannot post to: one line each."""
        problems = []
        for key, entry in configured_entries(config):
            problem = await self.entry_problem(entry)
            if problem:
                problems.append(f"{key}: {problem}")
        for key, channel in configured_channels(config):
            problem = await self.channel_problem(channel)
            if problem:
                problems.append(f"{key}: {problem}")
        return problems

    async def approver_warnings(self, config: BotConfig) -> list[str]:
        """What loads and resolves but may not be meant, one line each with its config key:
        an approver entry naming a public channel (anyone who joins it may approve), a rule
        on what is asked whose ``approval_groups`` does not name one Slack user group (a
        typo would show only as "Nobody can approve" at submit)."""
        warnings = []
        routed = routed_groups(config)
        try:
            groups = await self._list_groups(fresh=False) if routed else []
        except DirectoryUnavailable as error:
            routed, warnings = [], [f"rules: approval_groups not checked: {error}"]
        for key, group in routed:
            if problem := group_problem(group, groups):
                warnings.append(f"{key}: {problem} Requests this rule matches cannot be approved.")
        await self._list_channels(fresh=True)
        for key, entry in approver_channels(config):
            if await self.channel_id(parse_approver(entry).value) in self._public_channels:
                warnings.append(
                    f"{key}: {entry!r} is a public channel: anyone in the workspace may join "
                    "it and approve. Name a private channel or a user group."
                )
        return warnings

    async def channel_problem(self, channel: str) -> str | None:
        """Why the bot cannot post approval cards to ``channel`` (None when it can)."""
        channel_id = await self.channel_id(channel, fresh=True)
        if channel_id is None:
            return (
                f"{channel!r}: no channel of this name or id that the bot can see (a private "
                "channel must invite the bot)."
            )
        members = await self._members_of_channel(channel_id, fresh=True)
        bot = await self._bot_user_id()
        if bot and bot not in members:
            return f"{channel!r}: the bot is not in this channel; invite it (/invite @bot)."
        return None

    async def _bot_user_id(self) -> str | None:
        try:
            return str((await self._client.auth_test()).get("user_id") or "") or None
        except SlackApiError:
            return None

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

    async def _shared(self, key: tuple[str, str], read: Callable[[], Awaitable[T]]) -> T:
        """``read()``, once for everyone asking for ``key`` while it is in flight.

        One click on a batch's card judges every account's request at the same moment, each
        asking Slack for the same group's members and the same requester: 20 accounts made
        40 ``usergroups.users.list`` calls at once, twice Slack's tier-2 allowance of about
        20 a minute. Joining a read in flight keeps "membership at click time": its answer is
        at most one round trip older than the question."""
        running = self._reading.get(key)
        if running is None:
            running = asyncio.ensure_future(read())
            self._reading[key] = running
            running.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(running)

    async def _group_members(self, group_id: str, *, fresh: bool) -> list[str]:
        if (cached := self._hit(self._members, group_id, fresh)) is not None:
            return cached
        return await self._shared(("members", group_id), lambda: self._read_members(group_id))

    async def _read_members(self, group_id: str) -> list[str]:
        now = self._clock()
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
        return await self._shared(("user", user_id), lambda: self._read_user(user_id))

    async def _read_user(self, user_id: str) -> dict[str, Any] | None:
        now = self._clock()
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


APPROVER_KEYS = ("approvers", "fallback_approvers", "notify")


def _places(config: BotConfig) -> list[tuple[str, Any]]:
    """Where approver keys may be written: globally, in ``rules:``, per account."""
    places: list[tuple[str, Any]] = [("", config)]
    places += [(f"rules.{i}.set.", rule.set) for i, rule in enumerate(config.rules)]
    places += [(f"accounts.{name}.", account) for name, account in config.accounts.items()]
    return places


def _first_key(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each value once, with the first key naming it (accounts a rule filled in repeat the
    rule's values: thousands of accounts must not mean thousands of look-ups)."""
    first: dict[str, str] = {}
    for key, value in found:
        first.setdefault(value, key)
    return [(key, value) for value, key in first.items()]


def configured_entries(config: BotConfig) -> list[tuple[str, str]]:
    """(config key, entry) for every approver and notify entry the configuration names."""
    return _first_key(
        [
            (f"{prefix}{key}.{i}", entry)
            for prefix, place in _places(config)
            for key in APPROVER_KEYS
            for i, entry in enumerate(getattr(place, key) or [])
        ]
    )


def approver_channels(config: BotConfig) -> list[tuple[str, str]]:
    """(config key, entry) for every ``approvers`` and ``fallback_approvers`` entry naming a
    channel (``notify`` entries only inform: they approve nothing)."""
    return _first_key(
        [
            (f"{prefix}{key}.{i}", entry)
            for prefix, place in _places(config)
            for key in ("approvers", "fallback_approvers")
            for i, entry in enumerate(getattr(place, key) or [])
            if parse_approver(entry).kind is Kind.CHANNEL
        ]
    )


def routed_groups(config: BotConfig) -> list[tuple[str, str]]:
    """(config key, group) for every ``approval_groups`` entry of a rule on what is asked
    (a route: its groups reach no account's settings, so ``configured_groups`` misses them)."""
    return _first_key(
        [
            (f"rules.{i}.set.approval_groups.{j}", group)
            for i, rule in enumerate(config.rules)
            if rule.match.asks
            for j, group in enumerate(rule.set.approval_groups or [])
        ]
    )


async def approver_warnings(client: AsyncWebClient, config: BotConfig) -> list[str]:
    """``SlackDirectory.approver_warnings``: for the start-up check and ``check-config``."""
    return await SlackDirectory(client).approver_warnings(config)


def configured_channels(config: BotConfig) -> list[tuple[str, str]]:
    """(config key, channel) for every ``approval_channel`` the configuration names."""
    return _first_key(
        [
            (f"{prefix}approval_channel", place.approval_channel)
            for prefix, place in _places(config)
            if place.approval_channel
        ]
    )
