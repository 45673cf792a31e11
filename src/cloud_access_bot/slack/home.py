"""The App Home tab: my requests, the approvals waiting for me, my recent history.

``home_view`` is a pure function of stored requests; ``publish_home`` reads the store and
publishes it (views.publish); ``register_home`` adds the listeners: the tab is published when
opened and again after each click on it. Home buttons have their own action ids (``home_*``)
because Bolt runs only the first listener matching an action id, and the DM buttons' listeners
do not re-publish the tab.

The tab must stay within Slack's 100 blocks: each list shows at most a fixed number of requests
and says how many more there are (``/request list`` shows them all).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain import schedule
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.ports import Directory, Discovery, Store
from cloud_access_bot.service import AccessService
from cloud_access_bot.slack import views
from cloud_access_bot.slack.app import Inflight
from cloud_access_bot.slack.views import ModalState, escape, truncate

log = logging.getLogger(__name__)

HOME_APPROVE = "home_approve"
HOME_DENY = "home_deny"
HOME_CANCEL = "home_cancel"
HOME_REVOKE = "home_revoke"
HOME_REFRESH = "home_refresh"
HOME_NEW_REQUEST = "home_new_request"
#: Opens the preset chooser (registered by slack/commands.py).
HOME_PRESET = "home_preset"

#: Requests shown per list; 2 blocks each keeps the tab well under 100 blocks.
MAX_OPEN = 20
MAX_QUEUE = 20
MAX_HISTORY = 10
MAX_BLOCKS = 100
#: Pending requests read to build approval queues (the store has no per-approver index).
QUEUE_SCAN_LIMIT = 500


@dataclass(frozen=True)
class Deps:
    """What the Home tab and the subcommands need from the running bot."""

    client: AsyncWebClient
    service: AccessService
    store: Store
    config: Callable[[], BotConfig]
    discovery: Discovery
    directory: Directory
    catalog: Catalog
    clock: Callable[[], datetime]
    inflight: Inflight
    #: Users who opened the Home tab since this instance started: only their tabs are kept
    #: up to date on every change (a tab nobody looks at is rebuilt when it is opened).
    viewers: set[str] = field(default_factory=set)


def time_left(request: AccessRequest, now: datetime) -> str:
    """``42 min left`` / ``3 h 5 min left`` for active access; the status word otherwise."""
    if request.status is Status.ACTIVE and request.expires_at:
        minutes = max(0, int((request.expires_at - now).total_seconds() // 60))
        hours, rest = divmod(minutes, 60)
        return (f"{hours} h {rest} min" if hours else f"{rest} min") + " left"
    if request.status is Status.PENDING:
        approvals = f", {len(request.approvals)}/{request.approvals_required} approvals"
        return "waiting for approval" + (approvals if request.approvals_required > 1 else "")
    if schedule.is_scheduled(request) and request.starts_at:
        return f"scheduled, starts {schedule.shown(request.starts_at)}"
    return request.status.value.replace("_", " ").lower()


def summary(request: AccessRequest) -> str:
    """One line: services and actions of a request (or its permission set or group)."""
    parts = [f"{s.service}: {', '.join(s.actions)}" for s in request.services]
    if request.target:
        parts = [f"{'group' if request.group else 'permission set'} {request.target}"]
    return escape(truncate("; ".join(parts), 300))


def _request_section(request: AccessRequest, now: datetime, who: bool = False) -> dict[str, Any]:
    by = f"<@{request.requester_id}> · " if who else ""
    text = (
        f"{views.STATUS_EMOJI[request.status]} `{request.id}` *{escape(request.account_name)}* "
        f"({request.account_id}) · {time_left(request, now)}\n{by}{summary(request)}\n"
        f"{views.quoted(request.reason, 300)}"
    )
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": views.plain(label),
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _more(count: int, shown: int) -> list[dict[str, Any]]:
    if count <= shown:
        return []
    text = f"…and {count - shown} more: `/request list` shows them all."
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": views.plain(text)}


def _note(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _mine(request: AccessRequest, config: BotConfig, now: datetime) -> list[dict[str, Any]]:
    """One of the user's open requests and its buttons (2 blocks at most). What revoking a
    session grant does is said next to its Revoke button."""
    section = _request_section(request, now)
    buttons = []
    if request.status is Status.PENDING or schedule.is_scheduled(request):
        buttons.append(_button(HOME_CANCEL, "Cancel", request.id))
    if request.status is Status.ACTIVE:
        buttons.append(_button(HOME_REVOKE, "Revoke now", request.id, "danger"))
        account = config.account(request.account_name)
        if account and account.console_login_url:
            console = _button("home_console", "Open console", request.id)
            buttons.append({**console, "url": account.console_login_url})
        if views.is_session_grant(request):
            text = f"{section['text']['text']}\n_{views.session_revoke_note(request)}_"
            section["text"]["text"] = truncate(text, 3000)
    if not buttons:
        return [section]
    actions = {"type": "actions", "block_id": f"home.mine.{request.id}", "elements": buttons}
    return [section, actions]


def home_view(
    user_id: str,
    mine: Sequence[AccessRequest],
    queue: Sequence[AccessRequest],
    config: BotConfig,
    now: datetime,
) -> dict[str, Any]:
    """The Home tab of ``user_id``: ``mine`` are their requests (newest first), ``queue`` the
    pending requests they may approve."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "actions",
            "block_id": "home.top",
            "elements": [
                _button(HOME_NEW_REQUEST, "New request", "new", "primary"),
                *([_button(HOME_PRESET, "From a preset", "preset")] if config.presets else []),
                _button(HOME_REFRESH, "Refresh", "refresh"),
            ],
        },
        _header("Your access"),
    ]
    open_requests = [r for r in mine if r.is_open]
    if not open_requests:
        blocks.append(_note("Nothing pending or active."))
    for request in open_requests[:MAX_OPEN]:
        blocks.extend(_mine(request, config, now))
    blocks.extend(_more(len(open_requests), MAX_OPEN))
    if queue:
        blocks.append(_header("Waiting for your approval"))
        for request in queue[:MAX_QUEUE]:
            blocks.append(_request_section(request, now, who=True))
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"home.queue.{request.id}",
                    "elements": [
                        _button(HOME_APPROVE, "Approve", request.id, "primary"),
                        _button(HOME_DENY, "Deny", request.id, "danger"),
                    ],
                }
            )
        blocks.extend(_more(len(queue), MAX_QUEUE))
    history = [r for r in mine if not r.is_open][:MAX_HISTORY]
    if history:
        blocks.append(_header("Recent history"))
        lines = [
            f"{views.STATUS_EMOJI[r.status]} `{r.id}` {escape(r.account_name)} · "
            f"{summary(r)} · {time_left(r, now)}"
            for r in history
        ]
        blocks.append(_note(truncate("\n".join(lines), 3000)))
    assert len(blocks) <= MAX_BLOCKS
    return {"type": "home", "blocks": blocks}


async def approval_queue(store: Store, user_id: str) -> list[AccessRequest]:
    """Pending requests ``user_id`` was asked to approve (not their own), oldest first."""
    pending = await store.pending(limit=QUEUE_SCAN_LIMIT)
    return [
        r
        for r in pending
        if user_id in r.approvers and user_id != r.requester_id and user_id not in r.approvals
    ]


async def publish_home(deps: Deps, user_id: str, view_hash: str | None = None) -> None:
    """Publish ``user_id``'s Home tab from the store. With ``view_hash``, a newer tab already
    published by someone else is left alone (hash_conflict)."""
    now = deps.clock()
    mine, queue = await asyncio.gather(
        deps.store.for_user(user_id, limit=50), approval_queue(deps.store, user_id)
    )
    view = home_view(user_id, mine, queue, deps.config(), now)
    args: dict[str, Any] = {"user_id": user_id, "view": view}
    if view_hash:
        args["hash"] = view_hash
    try:
        await deps.client.views_publish(**args)
    except SlackApiError as error:
        if error.response.get("error") != "hash_conflict":
            raise


async def publish_homes(deps: Deps, request: AccessRequest) -> None:
    """Re-publish the tabs a change to ``request`` shows on: its requester's and approvers'."""
    users = dict.fromkeys((request.requester_id, *request.approvers))
    await asyncio.gather(*(publish_home(deps, user) for user in users if user in deps.viewers))


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id", "")) if isinstance(user, dict) else str(body.get("user_id", ""))


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "") if isinstance(actions[0], dict) else ""


def _hash(body: dict[str, Any]) -> str | None:
    view = body.get("view")
    return str(view.get("hash")) if isinstance(view, dict) and view.get("hash") else None


def register_home(app: AsyncApp, deps: Deps) -> None:
    """Listeners of the Home tab. Each acks first; failures are logged (the tab stays as it
    was) and the service itself DMs the clicker when it refuses a click."""

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        view = event.get("view") or {}
        user = str(event.get("user", ""))
        deps.viewers.add(user)
        await publish_home(deps, user, view.get("hash"))

    async def after_click(ack: Any, body: dict[str, Any], work: Any) -> None:
        await ack()
        user = _user(body)
        async with deps.inflight.track():
            try:
                if work is not None:
                    await work(_value(body), user)
            finally:
                await publish_home(deps, user)

    @app.action(HOME_APPROVE)
    async def on_approve(ack: Any, body: dict[str, Any]) -> None:
        await after_click(ack, body, deps.service.approve)

    @app.action(HOME_CANCEL)
    async def on_cancel(ack: Any, body: dict[str, Any]) -> None:
        await after_click(ack, body, deps.service.cancel)

    @app.action(HOME_REVOKE)
    async def on_revoke(ack: Any, body: dict[str, Any]) -> None:
        await after_click(ack, body, deps.service.revoke)

    @app.action(HOME_REFRESH)
    async def on_refresh(ack: Any, body: dict[str, Any]) -> None:
        await after_click(ack, body, None)

    @app.action("home_console")
    async def on_console(ack: Any) -> None:
        await ack()  # a URL button still sends block_actions

    @app.action(HOME_DENY)
    async def on_deny(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = views.deny_modal(_value(body)[:64])
        await deps.client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)

    @app.action(HOME_NEW_REQUEST)
    async def on_new_request(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = views.request_modal(deps.config(), ModalState())
        await deps.client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
