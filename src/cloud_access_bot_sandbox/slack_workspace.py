"""The state of the emulated Slack workspace and the Web API methods that read and change it.

Synchronous and free of HTTP: the emulator parses requests and calls :meth:`Workspace.call`;
tests may also inspect the dataclasses directly. Errors use Slack's codes.
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloud_access_bot_sandbox.slack_blocks import (
    JSON,
    MAX_MESSAGE_BLOCKS,
    MAX_VIEW_BYTES,
    carry_state,
    copy_json,
    flatten_text,
    validate_blocks,
    validate_view,
    with_generated_ids,
)

MAX_VIEW_STACK = 3


class ApiError(Exception):
    """A Slack Web API error: ``{"ok": false, "error": code, ...extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def _random_id(prefix: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(10))


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


@dataclass
class User:
    id: str
    name: str
    email: str | None = None
    real_name: str = ""
    deleted: bool = False
    is_bot: bool = False
    #: "multi" (is_restricted) or "single" (is_ultra_restricted) channel guest; "" a member.
    guest: str = ""
    #: Another organisation's team id (a Slack Connect user in a shared channel); "" ours.
    team: str = ""

    def to_api(self, team_id: str) -> JSON:
        profile: JSON = {"real_name": self.real_name, "display_name": self.name}
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": self.team or team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "is_restricted": bool(self.guest),
            "is_ultra_restricted": self.guest == "single",
            "profile": profile,
        }


@dataclass
class UserGroup:
    id: str
    handle: str
    name: str
    members: list[str]

    def to_api(self, team_id: str, include_users: bool) -> JSON:
        group: JSON = {
            "id": self.id,
            "team_id": team_id,
            "handle": self.handle,
            "name": self.name,
            "user_count": len(self.members),
        }
        if include_users:
            group["users"] = list(self.members)
        return group


@dataclass
class Channel:
    """A public or private channel and who is in it (the bot only when invited)."""

    id: str
    name: str
    members: list[str]
    is_private: bool = False
    is_archived: bool = False

    def to_api(self, bot_user_id: str) -> JSON:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": bot_user_id in self.members,
            "num_members": len(self.members),
        }


#: conversations.list / conversations.members: ``limit`` when none is given, and its maximum.
DEFAULT_PAGE, MAX_PAGE = 100, 1000


@dataclass
class Message:
    """A message the app posted; ``history`` holds earlier versions ({"text", "blocks"})."""

    channel: str
    ts: str
    text: str
    blocks: list[JSON]
    user: str
    bot_id: str
    thread_ts: str | None = None
    history: list[JSON] = field(default_factory=list)
    deleted: bool = False

    @property
    def flat_text(self) -> str:
        """The readable text of the message, flattened from its blocks (for assertions)."""
        return flatten_text(self.blocks, self.text)

    def to_api(self) -> JSON:
        message: JSON = {
            "type": "message",
            "ts": self.ts,
            "text": self.text,
            "blocks": copy_json(self.blocks),
            "user": self.user,
            "bot_id": self.bot_id,
        }
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        return message


@dataclass
class Ephemeral:
    """An ephemeral message (chat.postEphemeral or a response_url answer) shown to one user."""

    channel: str
    user: str
    text: str
    blocks: list[JSON]
    ts: str

    @property
    def flat_text(self) -> str:
        return flatten_text(self.blocks, self.text)


@dataclass
class OpenView:
    """A modal or Home tab as Slack holds it: the app's spec plus id, hash and input state."""

    id: str
    user_id: str
    spec: JSON
    hash: str
    values: JSON
    root_view_id: str
    previous_view_id: str | None = None
    open: bool = True
    #: The last ``errors`` the app answered to a submission (block_id → message).
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.spec.get("type"))

    @property
    def callback_id(self) -> str:
        return str(self.spec.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.spec.get("private_metadata", ""))

    @property
    def blocks(self) -> list[JSON]:
        blocks: list[JSON] = self.spec.get("blocks", [])
        return blocks

    def to_api(self, team_id: str, app_id: str, bot_id: str) -> JSON:
        view = copy_json(self.spec)
        view.setdefault("private_metadata", "")
        view.setdefault("callback_id", "")
        view.update(
            id=self.id,
            team_id=team_id,
            hash=self.hash,
            state={"values": copy_json(self.values)},
            root_view_id=self.root_view_id,
            previous_view_id=self.previous_view_id,
            app_id=app_id,
            app_installed_team_id=team_id,
            bot_id=bot_id,
        )
        return view


class Workspace:
    """Users, user groups, channels, messages and views of one emulated team."""

    def __init__(
        self,
        *,
        team_id: str = "T0EMULATOR",
        app_id: str = "A0EMULATOR",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        trigger_ttl: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.team_id = team_id
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.trigger_ttl = trigger_ttl
        self._clock = clock
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, UserGroup] = {}
        #: False: a free Slack plan, where every usergroups.* call answers plan_upgrade_required.
        self.has_usergroups = True
        self.channels: dict[str, Channel] = {}  # channels added by tests, by id
        self.dm_channels: dict[str, str] = {}  # user id → D… channel id
        self.messages: dict[str, list[Message]] = {}  # channel id → messages in post order
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, OpenView] = {}
        self.stacks: dict[str, list[str]] = {}  # user id → open modal view ids, root first
        self.home: dict[str, str] = {}  # user id → Home tab view id
        self._triggers: dict[str, tuple[str, float]] = {}  # trigger id → (user id, issued at)
        self._used_triggers: set[str] = set()
        self._ts = itertools.count(1)
        self._ts_base = int(time.time())
        self.users[bot_user_id] = User(bot_user_id, "cloud-access-bot", is_bot=True)
        self._methods: dict[str, Callable[[JSON], JSON]] = {
            "auth.test": self._auth_test,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.open": self._conversations_open,
            "conversations.list": self._conversations_list,
            "conversations.members": self._conversations_members,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
        }

    # --- set-up and runtime changes (called by tests) ---

    def add_user(
        self,
        user_id: str,
        name: str,
        email: str | None = None,
        *,
        real_name: str = "",
        deleted: bool = False,
        is_bot: bool = False,
        guest: str = "",
        team: str = "",
    ) -> User:
        user = User(user_id, name, email, real_name or name, deleted, is_bot, guest, team)
        self.users[user_id] = user
        return user

    def add_usergroup(self, handle: str, members: list[str], name: str | None = None) -> str:
        group_id = _random_id("S")
        self.usergroups[group_id] = UserGroup(group_id, handle, name or handle, list(members))
        return group_id

    def usergroup(self, handle: str) -> UserGroup:
        for group in self.usergroups.values():
            if group.handle == handle:
                return group
        raise KeyError(f"no user group with handle {handle!r}")

    def add_channel(
        self,
        name: str,
        members: list[str] | None = None,
        *,
        private: bool = False,
        bot_member: bool = True,
    ) -> str:
        """Create a channel (``G…`` when private) with ``members``; the bot is invited
        unless ``bot_member`` is False (then it may not post there: ``not_in_channel``)."""
        channel_id = _random_id("G" if private else "C")
        people = list(members or [])
        if bot_member:
            people.append(self.bot_user_id)
        self.channels[channel_id] = Channel(channel_id, name, people, private)
        return channel_id

    def channel(self, name: str) -> Channel:
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise KeyError(f"no channel named {name!r}")

    def dm_channel(self, user_id: str) -> str:
        """The app's DM channel with ``user_id`` (stable; created on first use)."""
        if user_id not in self.dm_channels:
            self.dm_channels[user_id] = "D" + user_id[1:].rjust(10, "0")
        return self.dm_channels[user_id]

    def issue_trigger(self, user_id: str) -> str:
        trigger_id = f"{next(self._ts)}.{secrets.randbelow(10**12)}.{secrets.token_hex(8)}"
        self._triggers[trigger_id] = (user_id, self._clock())
        return trigger_id

    def new_ts(self) -> str:
        """A message timestamp: unique and increasing, like Slack's."""
        return f"{self._ts_base}.{next(self._ts):06d}"

    def view_json(self, view: OpenView) -> JSON:
        return view.to_api(self.team_id, self.app_id, self.bot_id)

    def modal_stack(self, user_id: str) -> list[OpenView]:
        return [self.views[v] for v in self.stacks.get(user_id, [])]

    def close_top_view(self, user_id: str) -> None:
        stack = self.stacks.get(user_id, [])
        if stack:
            self.views[stack.pop()].open = False

    def close_all_views(self, user_id: str) -> None:
        while self.stacks.get(user_id):
            self.close_top_view(user_id)

    def replace_view(self, view: OpenView, spec: Any) -> None:
        """Give ``view`` new content (views.update / response_action update): new hash,
        input values kept only where block_id, action_id and type are unchanged."""
        spec = self._normalized_view(spec)
        if spec.get("type") != view.type:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["type change"]})
        view.spec = spec
        view.values = carry_state(view.values, view.blocks)
        view.hash = self._new_hash()
        view.errors = {}

    def push_view(self, user_id: str, spec: Any) -> OpenView:
        stack = self.stacks.get(user_id)
        if not stack:
            raise ApiError("not_found")
        if len(stack) >= MAX_VIEW_STACK:
            raise ApiError("push_limit_reached")
        view = self._new_view(user_id, spec, root_view_id=stack[0], previous_view_id=stack[-1])
        stack.append(view.id)
        return view

    # --- the Web API ---

    def call(self, method: str, args: JSON) -> JSON:
        """Run one Web API method; errors become ``{"ok": false, "error": …}`` like Slack."""
        handler = self._methods.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            return {"ok": True, **handler(args)}
        except ApiError as e:
            return {"ok": False, "error": e.code, **e.extra}

    def _new_hash(self) -> str:
        return f"{time.time():.6f}.{secrets.token_hex(4)}"

    @staticmethod
    def _json_arg(args: JSON, name: str, required: bool = True) -> Any:
        value = args.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError(
                    "invalid_arguments", response_metadata={"messages": [name]}
                ) from None
        if value is None and required:
            raise ApiError("invalid_arguments", response_metadata={"messages": [f"{name} missing"]})
        return value

    def _normalized_view(self, spec: Any) -> JSON:
        errors = validate_view(spec)
        if errors:
            raise ApiError("invalid_arguments", response_metadata={"messages": errors})
        if len(json.dumps(spec)) > MAX_VIEW_BYTES:
            raise ApiError("view_too_large")
        normalized = copy_json(spec)
        normalized["blocks"] = with_generated_ids(spec["blocks"])
        return dict(normalized)

    def _new_view(
        self, user_id: str, spec: Any, root_view_id: str | None, previous_view_id: str | None
    ) -> OpenView:
        spec = self._normalized_view(spec)
        external_id = spec.get("external_id")
        if external_id and any(
            v.open and v.spec.get("external_id") == external_id for v in self.views.values()
        ):
            raise ApiError("duplicate_external_id")
        view_id = _random_id("V")
        view = OpenView(
            id=view_id,
            user_id=user_id,
            spec=spec,
            hash=self._new_hash(),
            values=carry_state({}, spec["blocks"]),
            root_view_id=root_view_id or view_id,
            previous_view_id=previous_view_id,
        )
        self.views[view_id] = view
        return view

    def _use_trigger(self, args: JSON) -> str:
        """The user a fresh trigger_id belongs to; each trigger opens one view, within 3 s."""
        trigger_id = str(args.get("trigger_id", ""))
        if trigger_id in self._used_triggers:
            raise ApiError("trigger_exchanged")
        trigger = self._triggers.pop(trigger_id, None)
        if trigger is None:
            raise ApiError("expired_trigger_id")
        self._used_triggers.add(trigger_id)
        user_id, issued_at = trigger
        if self._clock() - issued_at > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        return user_id

    def _auth_test(self, args: JSON) -> JSON:
        return {
            "url": "https://emulator.slack.local/",
            "team": "Emulator",
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _views_open(self, args: JSON) -> JSON:
        spec = self._json_arg(args, "view")
        user_id = self._use_trigger(args)
        if not isinstance(spec, dict) or spec.get("type") != "modal":
            raise ApiError("invalid_arguments", response_metadata={"messages": ["not a modal"]})
        view = self._new_view(user_id, spec, None, None)
        self.close_all_views(user_id)
        self.stacks[user_id] = [view.id]
        return {"view": self.view_json(view)}

    def _views_push(self, args: JSON) -> JSON:
        spec = self._json_arg(args, "view")
        user_id = self._use_trigger(args)
        return {"view": self.view_json(self.push_view(user_id, spec))}

    def _find_view(self, args: JSON) -> OpenView:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        for view in self.views.values():
            if view.open and (
                view.id == view_id or (external_id and view.spec.get("external_id") == external_id)
            ):
                return view
        raise ApiError("not_found")

    def _check_hash(self, view: OpenView, args: JSON) -> None:
        expected = args.get("hash")
        if expected and expected != view.hash:
            raise ApiError("hash_conflict")

    def _views_update(self, args: JSON) -> JSON:
        spec = self._json_arg(args, "view")
        view = self._find_view(args)
        self._check_hash(view, args)
        self.replace_view(view, spec)
        return {"view": self.view_json(view)}

    def _views_publish(self, args: JSON) -> JSON:
        spec = self._json_arg(args, "view")
        user_id = str(args.get("user_id", ""))
        if user_id not in self.users:
            raise ApiError("user_not_found")
        if not isinstance(spec, dict) or spec.get("type") != "home":
            raise ApiError("invalid_arguments", response_metadata={"messages": ["not a home view"]})
        if user_id in self.home:
            view = self.views[self.home[user_id]]
            self._check_hash(view, args)
            self.replace_view(view, spec)
        else:
            view = self._new_view(user_id, spec, None, None)
            self.home[user_id] = view.id
        return {"view": self.view_json(view)}

    def _resolve_channel(self, channel: Any) -> str:
        """A channel id the app may post to; a user id means the app's DM with that user."""
        channel = str(channel or "")
        if channel in self.users and not self.users[channel].deleted:
            return self.dm_channel(channel)
        if channel in self.dm_channels.values() or self._visible(channel):
            return channel
        raise ApiError("channel_not_found")

    def _visible(self, channel_id: str) -> bool:
        """Whether the bot can see the channel: every public one, private ones it is in."""
        channel = self.channels.get(channel_id)
        return channel is not None and (
            not channel.is_private or self.bot_user_id in channel.members
        )

    def _bot_may_post(self, channel_id: str) -> None:
        """chat:write posts only where the bot is a member (chat:write.public is not asked)."""
        channel = self.channels.get(channel_id)
        if channel is not None and self.bot_user_id not in channel.members:
            raise ApiError("not_in_channel")
        if channel is not None and channel.is_archived:
            raise ApiError("is_archived")

    def _message_blocks(self, args: JSON) -> list[JSON]:
        blocks = self._json_arg(args, "blocks", required=False) or []
        errors = validate_blocks(blocks, MAX_MESSAGE_BLOCKS, "/blocks")
        if errors:
            raise ApiError("invalid_blocks", response_metadata={"messages": errors})
        return with_generated_ids(blocks)

    def _find_message(self, args: JSON) -> Message:
        channel = self._resolve_channel(args.get("channel"))
        for message in self.messages.get(channel, []):
            if message.ts == args.get("ts") and not message.deleted:
                return message
        raise ApiError("message_not_found")

    def _chat_post_message(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        self._bot_may_post(channel)
        blocks = self._message_blocks(args)
        text = str(args.get("text") or "")
        if not text and not blocks:
            raise ApiError("no_text")
        message = Message(
            channel=channel,
            ts=self.new_ts(),
            text=text,
            blocks=blocks,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=args.get("thread_ts"),
        )
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message.ts, "message": message.to_api()}

    def update_message(self, message: Message, text: str | None, blocks: list[JSON] | None) -> None:
        message.history.append({"text": message.text, "blocks": message.blocks})
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks

    def _chat_update(self, args: JSON) -> JSON:
        message = self._find_message(args)
        blocks = self._message_blocks(args) if "blocks" in args else None
        text = str(args["text"]) if "text" in args else None
        self.update_message(message, text, blocks)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_api(),
        }

    def _chat_delete(self, args: JSON) -> JSON:
        message = self._find_message(args)
        message.deleted = True
        return {"channel": message.channel, "ts": message.ts}

    def _chat_post_ephemeral(self, args: JSON) -> JSON:
        channel = self._resolve_channel(args.get("channel"))
        user_id = str(args.get("user", ""))
        in_channel = channel not in self.channels or user_id in self.channels[channel].members
        if user_id not in self.users or not in_channel:
            raise ApiError("user_not_in_channel")
        blocks = self._message_blocks(args)
        ephemeral = Ephemeral(channel, user_id, str(args.get("text") or ""), blocks, self.new_ts())
        self.ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.ts}

    def _conversations_open(self, args: JSON) -> JSON:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if len(users) != 1:
            raise ApiError("invalid_arguments", response_metadata={"messages": ["one user only"]})
        user = self.users.get(users[0])
        if user is None:
            raise ApiError("user_not_found")
        if user.deleted:
            raise ApiError("user_disabled")
        return {"channel": {"id": self.dm_channel(user.id), "is_im": True, "user": user.id}}

    @staticmethod
    def _page(items: list[Any], args: JSON) -> tuple[list[Any], str]:
        """One page of a cursor-paginated list and the next cursor ("" on the last page)."""
        try:
            limit = int(args.get("limit") or DEFAULT_PAGE)
        except ValueError:
            raise ApiError("invalid_limit") from None
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError("invalid_limit")
        cursor = str(args.get("cursor") or "")
        start = 0
        if cursor:
            if not cursor.startswith("next:") or not cursor[5:].isdigit():
                raise ApiError("invalid_cursor")
            start = int(cursor[5:])
        end = start + limit
        return items[start:end], f"next:{end}" if end < len(items) else ""

    def _conversations_list(self, args: JSON) -> JSON:
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",")}
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise ApiError("invalid_types")
        listed = [
            c.to_api(self.bot_user_id)
            for c in self.channels.values()
            if self._visible(c.id)
            and ("private_channel" if c.is_private else "public_channel") in types
            and not (c.is_archived and _flag(args.get("exclude_archived")))
        ]
        page, cursor = self._page(listed, args)
        return {"channels": page, "response_metadata": {"next_cursor": cursor}}

    def _conversations_members(self, args: JSON) -> JSON:
        channel_id = str(args.get("channel") or "")
        if channel_id in self.dm_channels.values():
            raise ApiError("method_not_supported_for_channel_type")
        if not self._visible(channel_id):
            raise ApiError("channel_not_found")
        page, cursor = self._page(list(self.channels[channel_id].members), args)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _paid_plan(self) -> None:
        if not self.has_usergroups:
            raise ApiError("plan_upgrade_required")

    def _usergroups_list(self, args: JSON) -> JSON:
        self._paid_plan()
        include_users = _flag(args.get("include_users"))
        groups = [g.to_api(self.team_id, include_users) for g in self.usergroups.values()]
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: JSON) -> JSON:
        self._paid_plan()
        group = self.usergroups.get(str(args.get("usergroup", "")))
        if group is None:
            raise ApiError("no_such_subteam")
        return {"users": list(group.members)}

    def _users_info(self, args: JSON) -> JSON:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user.to_api(self.team_id)}

    def _users_lookup_by_email(self, args: JSON) -> JSON:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email:
                return {"user": user.to_api(self.team_id)}
        raise ApiError("users_not_found")
