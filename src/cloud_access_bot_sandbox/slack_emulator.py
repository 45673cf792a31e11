"""A local Slack for the real slack-bolt app: Socket Mode, the Web API and people who use it.

One aiohttp server on 127.0.0.1 (port 0), in the same event loop as the app under test:

- ``/api/{method}``: the Web API (see :class:`~.slack_workspace.Workspace` for the methods);
  every call is recorded in :attr:`SlackEmulator.calls`. ``apps.connections.open`` (app token
  ``xapp-…``) hands out ``ws://127.0.0.1:PORT/link/?ticket=N``.
- ``/link/``: the Socket Mode WebSocket. ``hello`` first, then envelopes; acks resolve the
  sender's wait and are recorded with their latency in :attr:`SlackEmulator.acks`.
- ``/respond/{token}``: ``response_url`` targets; posts are recorded in
  :attr:`SlackEmulator.responses` and applied (replace/delete the original, or ephemeral).

Wiring the app to it::

    emulator = SlackEmulator()
    await emulator.start()
    client = AsyncWebClient(token=emulator.bot_token, base_url=emulator.api_url)
    app = AsyncApp(client=client, token_verification_enabled=False)
    handler = AsyncSocketModeHandler(app, emulator.app_token)
    await asyncio.wait_for(handler.connect_async(), 10)
    await emulator.wait_connected()

People act through :meth:`SlackEmulator.slash_command`, :meth:`SlackEmulator.click`,
:meth:`SlackEmulator.app_home_opened` and :class:`~.slack_people.ViewHandle` (from
:meth:`SlackEmulator.wait_for_view` / :meth:`SlackEmulator.wait_for_home`): each sends real
envelopes and returns what the app answered in its ack. Everything is awaitable with a timeout
(:meth:`SlackEmulator.wait_until` re-checks a predicate after every change), so tests never
sleep. Protocol mistakes the app makes (late acks, bad options, errors on non-input blocks) are
collected in :attr:`SlackEmulator.problems`.

Fault injection: :meth:`disconnect`, :meth:`close_socket`, :meth:`fail_connections_open` and
per-method rate limits (:meth:`set_rate_limit`, answering HTTP 429 ``ratelimited``).
"""

# Waits take ``timeout`` on purpose: tests pass their own, the default is ``self.timeout``.

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import WSCloseCode, WSMsgType, web

from cloud_access_bot_sandbox.slack_blocks import JSON, validate_blocks
from cloud_access_bot_sandbox.slack_people import (
    ViewHandle,
    action_json,
    app_home_opened_payload,
    find_element,
    message_action_payload,
    slash_command_payload,
)
from cloud_access_bot_sandbox.slack_workspace import (
    Ephemeral,
    Message,
    User,
    Workspace,
)

__all__ = ["AckRecord", "AckTimeout", "ApiCall", "ResponsePost", "SlackEmulator", "ViewHandle"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Slack's deadline for an ack; later ones are recorded in ``problems``.
ACK_DEADLINE_MS = 3000.0
#: Fallback re-check interval of :meth:`SlackEmulator.wait_until`.
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the emulator saw it (token removed)."""

    method: str
    args: JSON
    time: float  # time.monotonic()
    response: JSON
    status: int


@dataclass(frozen=True)
class AckRecord:
    """One ack; latency from sending the envelope to receiving the ack (None if unexpected)."""

    envelope_id: str
    type: str
    latency_ms: float | None
    payload: JSON | None


@dataclass(frozen=True)
class ResponsePost:
    """A post to a ``response_url`` the emulator issued."""

    token: str
    body: JSON
    user_id: str
    channel_id: str
    message_ts: str | None


@dataclass
class _Pending:
    future: asyncio.Future[AckRecord]
    sent_at: float
    type: str


class AckTimeout(TimeoutError):
    """The app did not ack an envelope in time."""


class SlackEmulator:
    """Plays Slack for a slack-bolt AsyncApp over a real Socket Mode WebSocket (see module doc)."""

    def __init__(
        self,
        app_token: str = "xapp-1-emulator",
        bot_token: str = "xoxb-emulator",
        *,
        timeout: float = 5.0,
        trigger_ttl: float = 3.0,
        workspace: Workspace | None = None,
    ) -> None:
        self.app_token = app_token
        self.bot_token = bot_token
        #: Default for every wait (acks, views, messages, connections), in seconds.
        self.timeout = timeout
        self.workspace = workspace or Workspace(trigger_ttl=trigger_ttl)
        self.calls: list[ApiCall] = []
        self.acks: list[AckRecord] = []
        self.responses: list[ResponsePost] = []
        self.envelopes: list[JSON] = []
        self.problems: list[str] = []
        #: How many Socket Mode connections were accepted so far (reconnects included).
        self.connections_opened = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, deque[_Pending]] = {}
        self._tickets: set[str] = set()
        self._counter = itertools.count(1)
        self._connect_failures: deque[tuple[str, int]] = deque()
        self._rate_limits: dict[str, float] = {}
        self._call_times: dict[str, deque[float]] = {}
        self._response_urls: dict[str, tuple[str, str, str | None]] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._link)
        app.router.add_post("/respond/{token}", self._respond)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close every socket (the app sees the server go away) and stop the server."""
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"emulator stopping")
        for pending in self._pending.values():
            for entry in pending:
                entry.future.cancel()
        self._pending.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Pass as ``AsyncWebClient(base_url=…)``."""
        return f"{self.base_url}/api/"

    # --- waiting ---

    def notify(self) -> None:
        """Wake every :meth:`wait_until` (called after each change of state)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[], T | None], timeout: float | None = None, description: str = ""
    ) -> T:
        """Return the first truthy value of ``predicate()``.

        It is re-checked after every change the emulator sees (calls, acks, connections) and at
        least every ``POLL_SECONDS``, so predicates over the app's own state work too.
        """
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                while not (result := predicate()):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), POLL_SECONDS)
                return result
        except TimeoutError:
            raise TimeoutError(
                f"timed out after {limit}s waiting for {description or predicate}"
            ) from None

    # --- Socket Mode ---

    @property
    def connection_count(self) -> int:
        """Open Socket Mode connections now."""
        return len(self._open_sockets())

    def _open_sockets(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self._sockets if not ws.closed]

    async def wait_connected(self, timeout: float | None = None, *, total: int = 1) -> int:
        """Wait until a socket is open and at least ``total`` connections were ever accepted
        (pass ``connections_opened + 1`` to wait for a reconnect). Returns the open count."""
        await self.wait_until(
            lambda: self.connection_count > 0 and self.connections_opened >= total,
            timeout,
            f"a Socket Mode connection (#{total})",
        )
        return self.connection_count

    def fail_connections_open(
        self, count: int = 1, error: str = "ratelimited", retry_after: int = 1
    ) -> None:
        """Make the next ``count`` apps.connections.open calls fail with ``error``
        (``ratelimited`` answers HTTP 429 with Retry-After)."""
        self._connect_failures.extend([(error, retry_after)] * count)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does before rotating a connection."""
        await self._newest_socket().send_json({"type": "disconnect", "reason": reason})

    async def close_socket(self) -> None:
        """Close the newest connection from the server side."""
        await self._newest_socket().close(code=WSCloseCode.GOING_AWAY)

    def _newest_open(self) -> web.WebSocketResponse | None:
        """Where envelopes go: the newest open connection, as Slack prefers fresh ones."""
        sockets = self._open_sockets()
        return sockets[-1] if sockets else None

    def _newest_socket(self) -> web.WebSocketResponse:
        ws = self._newest_open()
        if ws is None:
            raise RuntimeError("no Socket Mode connection is open")
        return ws

    async def _link(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": self.connection_count + 1,
                "debug_info": {"host": "emulator", "approximate_connection_time": 3600},
                "connection_info": {"app_id": self.workspace.app_id},
            }
        )
        self._sockets.append(ws)
        self.connections_opened += 1
        self.notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_ack(message.data)
        finally:
            self._sockets.remove(ws)
            self.notify()
        return ws

    def _on_ack(self, data: str) -> None:
        received = time.monotonic()
        try:
            message = json.loads(data)
            envelope_id = str(message["envelope_id"])
        except (ValueError, KeyError, TypeError):
            self.problems.append(f"unreadable message from the app: {data[:200]!r}")
            return
        payload = message.get("payload")
        queue = self._pending.get(envelope_id)
        if not queue:
            self.acks.append(AckRecord(envelope_id, "unknown", None, payload))
            self.problems.append(f"ack for an unknown envelope {envelope_id}")
            self.notify()
            return
        entry = queue.popleft()
        if not queue:
            del self._pending[envelope_id]
        latency = (received - entry.sent_at) * 1000
        record = AckRecord(envelope_id, entry.type, latency, payload)
        self.acks.append(record)
        if latency > ACK_DEADLINE_MS:
            self.problems.append(f"late ack ({latency:.0f} ms) for {entry.type} {envelope_id}")
        if not entry.future.done():
            entry.future.set_result(record)
        self.notify()

    async def send_envelope(
        self,
        type: str,
        payload: JSON,
        *,
        accepts_response_payload: bool | None = None,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float | None = None,
    ) -> AckRecord:
        """Deliver an envelope to the newest connection and wait for its ack.

        Sending the same ``envelope_id`` twice is a duplicate delivery (each send waits for
        one ack). Raises :class:`AckTimeout` if no ack comes within ``timeout``; a later ack is
        still recorded.
        """
        limit = self.timeout if timeout is None else timeout
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or payload.get("type") in (
                "view_submission",
                "block_suggestion",
            )
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        ws = await self.wait_until(self._newest_open, limit, "a Socket Mode connection")
        future: asyncio.Future[AckRecord] = asyncio.get_running_loop().create_future()
        entry = _Pending(future, time.monotonic(), type)
        self._pending.setdefault(envelope_id, deque()).append(entry)
        self.envelopes.append(envelope)
        await ws.send_str(json.dumps(envelope))
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(future)
        except TimeoutError:
            raise AckTimeout(f"no ack for {type} envelope {envelope_id} within {limit}s") from None

    # --- Web API ---

    def set_rate_limit(self, method: str, per_second: float | None) -> None:
        """Allow ``per_second`` calls of ``method`` per rolling second (None: unlimited);
        beyond it answer HTTP 429 ``ratelimited`` with Retry-After."""
        if per_second is None:
            self._rate_limits.pop(method, None)
        else:
            self._rate_limits[method] = per_second

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    async def _request_args(self, request: web.Request) -> JSON:
        """Query string plus a JSON or form body, whatever the client chose to send."""
        args: JSON = dict(request.query)
        if not request.can_read_body:
            return args
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._request_args(request)
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() or str(args.pop("token", ""))
        args.pop("token", None)
        status, headers = 200, {}
        if not token:
            body: JSON = {"ok": False, "error": "not_authed"}
        elif self._over_rate_limit(method):
            status, headers = 429, {"Retry-After": "1"}
            body = {"ok": False, "error": "ratelimited"}
        elif method == "apps.connections.open":
            status, headers, body = self._connections_open(token)
        elif not token.startswith(("xoxb-", "xoxp-")):
            body = {"ok": False, "error": "invalid_auth"}
        else:
            body = self._call_workspace(method, args)
        self.calls.append(ApiCall(method, args, time.monotonic(), body, status))
        self.notify()
        return web.json_response(body, status=status, headers=headers)

    def _call_workspace(self, method: str, args: JSON) -> JSON:
        try:
            return self.workspace.call(method, args)
        except Exception as e:  # a malformed request must not kill the emulator
            log.exception("emulator failed on %s", method)
            self.problems.append(f"{method} crashed the emulator: {type(e).__name__}: {e}")
            return {"ok": False, "error": "fatal_error"}

    def _over_rate_limit(self, method: str) -> bool:
        budget = self._rate_limits.get(method)
        if budget is None:
            return False
        now = time.monotonic()
        times = self._call_times.setdefault(method, deque())
        while times and now - times[0] >= 1.0:
            times.popleft()
        if len(times) >= budget:
            return True
        times.append(now)
        return False

    def _connections_open(self, token: str) -> tuple[int, dict[str, str], JSON]:
        if not token.startswith("xapp-"):
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if self._connect_failures:
            error, retry_after = self._connect_failures.popleft()
            if error == "ratelimited":
                return 429, {"Retry-After": str(retry_after)}, {"ok": False, "error": error}
            return 200, {}, {"ok": False, "error": error}
        ticket = str(next(self._counter))
        self._tickets.add(ticket)
        url = f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}"
        return 200, {}, {"ok": True, "url": url}

    def response_url(self, user_id: str, channel_id: str, message_ts: str | None = None) -> str:
        """Issue a ``response_url`` bound to a user, a channel and optionally a message."""
        token = uuid.uuid4().hex
        self._response_urls[token] = (user_id, channel_id, message_ts)
        return f"{self.base_url}/respond/{token}"

    async def _respond(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        context = self._response_urls.get(token)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if context is None or not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        user_id, channel_id, message_ts = context
        self.responses.append(ResponsePost(token, body, user_id, channel_id, message_ts))
        error = self._apply_response(body, user_id, channel_id, message_ts)
        self.notify()
        if error:
            return web.json_response({"ok": False, "error": error}, status=400)
        return web.json_response({"ok": True})

    def _apply_response(
        self, body: JSON, user_id: str, channel_id: str, message_ts: str | None
    ) -> str | None:
        """Do what a response_url post asks; return a Slack error code if it is invalid."""
        blocks = body.get("blocks")
        if blocks is not None and validate_blocks(blocks, 50, "/blocks"):
            return "invalid_blocks"
        workspace = self.workspace
        original = next(
            (m for m in workspace.messages.get(channel_id, []) if m.ts == message_ts), None
        )
        if original is not None and body.get("delete_original"):
            original.deleted = True
        elif original is not None and body.get("replace_original"):
            workspace.update_message(original, str(body.get("text", "")), blocks or [])
        elif body.get("response_type") == "in_channel":
            workspace.call("chat.postMessage", {**body, "channel": channel_id})
        else:
            text = str(body.get("text", ""))
            ephemeral = Ephemeral(channel_id, user_id, text, blocks or [], workspace.new_ts())
            workspace.ephemerals.append(ephemeral)
        return None

    # --- workspace set-up ---

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
    ) -> User:
        return self.workspace.add_user(
            user_id, name, email, real_name=real_name, deleted=deleted, is_bot=is_bot, guest=guest
        )

    def add_usergroup(self, handle: str, members: list[str], name: str | None = None) -> str:
        """Create a user group; returns its id (S…)."""
        return self.workspace.add_usergroup(handle, members, name)

    def set_usergroup_members(self, handle: str, members: list[str]) -> None:
        self.workspace.usergroup(handle).members = list(members)

    def add_channel(self, name: str, members: list[str] | None = None, **options: bool) -> str:
        """A channel with ``members`` (``Workspace.add_channel``: ``private``, ``bot_member``)."""
        return self.workspace.add_channel(name, members, **options)

    def set_channel_members(self, name: str, members: list[str]) -> None:
        """Who is in the channel now, besides the bot (which stays as it was)."""
        channel = self.workspace.channel(name)
        bot = [m for m in channel.members if m == self.workspace.bot_user_id]
        channel.members = [*members, *bot]

    def dm_channel(self, user_id: str) -> str:
        return self.workspace.dm_channel(user_id)

    # --- finding things ---

    def messages_to(self, user_id: str) -> list[Message]:
        """Messages (not deleted) in the app's DM with ``user_id``, oldest first."""
        return self.messages_in(self.workspace.dm_channel(user_id))

    def messages_in(self, channel_id: str) -> list[Message]:
        return [m for m in self.workspace.messages.get(channel_id, []) if not m.deleted]

    def latest_message_to(self, user_id: str) -> Message | None:
        messages = self.messages_to(user_id)
        return messages[-1] if messages else None

    def ephemerals_to(self, user_id: str) -> list[Ephemeral]:
        return [e for e in self.workspace.ephemerals if e.user == user_id]

    async def wait_for_message(
        self,
        user_id: str,
        predicate: Callable[[Message], bool] | None = None,
        timeout: float | None = None,
    ) -> Message:
        """The newest DM to ``user_id`` matching ``predicate`` (waits for one to exist)."""

        def find() -> Message | None:
            matching = [m for m in self.messages_to(user_id) if predicate is None or predicate(m)]
            return matching[-1] if matching else None

        return await self.wait_until(find, timeout, f"a message to {user_id}")

    def modal(self, user_id: str) -> ViewHandle | None:
        """The modal on top of ``user_id``'s stack, if one is open."""
        stack = self.workspace.stacks.get(user_id)
        return ViewHandle(self, stack[-1]) if stack else None

    def top_view(self, user_id: str) -> str | None:
        """The id of the modal on top for ``user_id``, if any."""
        stack = self.workspace.stacks.get(user_id)
        return stack[-1] if stack else None

    async def wait_for_view(
        self,
        user_id: str,
        callback_id: str | None = None,
        timeout: float | None = None,
        *,
        other_than: str | None = None,
    ) -> ViewHandle:
        """Wait until ``user_id`` sees a modal (with ``callback_id`` if given) on top.

        The modal on top right now counts: when a previous one may still be open, pass its id
        as ``other_than`` (see :meth:`top_view`) or use :meth:`ViewHandle.wait_updated`.
        """

        def find() -> str | None:
            view_id = self.top_view(user_id)
            if view_id is None or view_id == other_than:
                return None
            wanted = callback_id in (None, self.workspace.views[view_id].callback_id)
            return view_id if wanted else None

        view_id = await self.wait_until(find, timeout, f"a modal {callback_id or ''} for {user_id}")
        return ViewHandle(self, view_id)

    async def wait_for_home(
        self,
        user_id: str,
        predicate: Callable[[ViewHandle], bool] | None = None,
        timeout: float | None = None,
    ) -> ViewHandle:
        """Wait until the app published a Home tab for ``user_id`` (matching ``predicate``)."""

        def find() -> ViewHandle | None:
            view_id = self.workspace.home.get(user_id)
            if view_id is None:
                return None
            handle = ViewHandle(self, view_id)
            return handle if predicate is None or predicate(handle) else None

        return await self.wait_until(find, timeout, f"the Home tab of {user_id}")

    # --- people ---

    async def slash_command(
        self, user_id: str, command: str, text: str = "", *, channel_id: str | None = None
    ) -> JSON:
        """Type ``command text``; returns the ack payload ({} for a plain ack)."""
        channel = channel_id or self.workspace.dm_channel(user_id)
        payload = slash_command_payload(
            self.workspace,
            user_id,
            command,
            text,
            channel_id=channel,
            trigger_id=self.workspace.issue_trigger(user_id),
            response_url=self.response_url(user_id, channel),
        )
        ack = await self.send_envelope("slash_commands", payload)
        return ack.payload or {}

    async def click(
        self, user_id: str, message: Message, action_id: str, value: str | None = None
    ) -> JSON:
        """Click the button ``action_id`` (with ``value``, if several share the id) on a message."""
        block, element = self._find_button(message, action_id, value)
        payload = message_action_payload(
            self.workspace,
            user_id,
            message,
            action_json(block, element),
            trigger_id=self.workspace.issue_trigger(user_id),
            response_url=self.response_url(user_id, message.channel, message.ts),
        )
        ack = await self.send_envelope("interactive", payload)
        return ack.payload or {}

    @staticmethod
    def _find_button(message: Message, action_id: str, value: str | None) -> tuple[JSON, JSON]:
        if value is None:
            return find_element(message.blocks, action_id)
        for block in message.blocks:
            try:
                found = find_element([block], action_id)
            except LookupError:
                continue
            if found[1].get("value") == value:
                return found
        raise LookupError(f"no button {action_id!r} with value {value!r} in message {message.ts}")

    async def app_home_opened(self, user_id: str) -> JSON:
        """Open the app's Home tab as ``user_id`` (events_api app_home_opened)."""
        event_id = "Ev" + uuid.uuid4().hex[:10].upper()
        payload = app_home_opened_payload(self.workspace, user_id, event_id)
        ack = await self.send_envelope("events_api", payload)
        return ack.payload or {}
