"""What every listener shares: the bot's parts, the failure guard, and payload readers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.domain.presets import PresetDefaults
from cloud_access_bot.ports import IdentityCenterDirectory, StoreUnavailable
from cloud_access_bot.service import AccessService, Draft
from cloud_access_bot.service_batch import BatchService
from cloud_access_bot.slack import views
from cloud_access_bot.slack.notifier import replies_in
from cloud_access_bot.slack.views import ModalState

log = logging.getLogger(__name__)

STORE_DOWN = "I could not reach my database, so nothing was changed. Please try again in a minute."
FAILED = (
    "Something went wrong on my side and nothing was changed. Please try again; if it keeps "
    "failing, tell the bot's admins."
)


class Suggestions(Protocol):
    """What the modal's external selects offer, and how their values map back."""

    def services(self, query: str) -> list[dict[str, Any]]: ...

    def actions(self, service: str, query: str) -> list[dict[str, Any]]:
        """Option groups for the actions select."""

    def decode_actions(self, values: list[str]) -> list[str]: ...

    async def resources(self, account: str, service: str, query: str) -> list[dict[str, Any]]: ...

    async def decode_resources(self, account: str, service: str, values: list[str]) -> list[str]:
        """ARNs for the selected options; raises ValueError naming an option no longer known."""

    def check_arns(self, account: str, service: str, arns: list[str]) -> list[str]:
        """One message per invalid free-text ARN (empty when all are fine)."""

    def warm(self, account: str, service: str, *, refresh: bool = False) -> None:
        """Start discovery early so resource suggestions answer from the cache (``refresh``:
        list again now instead of trusting the cache)."""

    def preset(self, name: str) -> PresetDefaults | None:
        """What a configured preset fills in (None: unknown or naming no known action)."""

    async def resources_in(
        self, accounts: Sequence[str], service: str, query: str
    ) -> list[dict[str, Any]]:
        """Resource options of several accounts (one request over them), each labelled with
        its account."""

    async def decode_resources_in(
        self, accounts: Sequence[str], service: str, values: list[str]
    ) -> dict[str, list[str]]:
        """The selected options' ARNs per account (each in the account whose discovery found
        it); raises ValueError naming options no account knows."""


#: ``/request <name> args…``: called with (user id, args, payload) after the ack; answers with
#: mrkdwn text or a message ``{"text": …, "blocks": […]}``, shown only to the person who typed it.
Subcommand = Callable[[str, list[str], dict[str, Any]], Awaitable[str | dict[str, Any]]]


class Inflight:
    """Counts listener work in progress so shutdown can wait for it."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def track(self) -> Any:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass(frozen=True)
class AppDeps:
    """The parts of the running bot the listeners call."""

    client: AsyncWebClient
    service: AccessService
    suggestions: Suggestions
    config: Callable[[], BotConfig]
    inflight: Inflight
    #: The slash command as typed (``/request``), fixed when the app is built.
    command: str
    subcommands: Mapping[str, Subcommand]
    #: IAM Identity Center, when configured (the permission set modal reads it).
    identity_center: IdentityCenterDirectory | None = None
    #: The ``audit activity`` text of an ended grant (raises TrailUnavailable); None: the
    #: "What was used" button answers nothing.
    usage: Callable[[AccessRequest], Awaitable[str]] | None = None
    #: Requests over several accounts (None: the modal's extra accounts are refused).
    batch: BatchService | None = None

    async def guarded(self, user_id: str, work: Awaitable[Any]) -> None:
        """Run a listener's work; whatever fails, the person who acted is told."""
        async with self.inflight.track():
            try:
                await work
            except StoreUnavailable:
                await tell(self.client, user_id, STORE_DOWN)
            except Exception:
                log.exception("listener failed")
                await tell(self.client, user_id, FAILED)

    async def open_view(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Open a modal; a payload without trigger_id fails here, inside ``guarded``."""
        await self.client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)

    async def update_modal(
        self, body: dict[str, Any], state: ModalState, shown: dict[str, Any] | None = None
    ) -> None:
        """Show ``shown`` (default: the modal at ``state``) in place of the clicked view."""
        view = body.get("view") or {}
        try:
            await self.client.views_update(
                view_id=view["id"],
                hash=view.get("hash"),
                view=shown or views.request_modal(self.config(), state),
            )
        except SlackApiError as error:
            if error.response.get("error") != "hash_conflict":
                raise


def decision_button(
    app: AsyncApp,
    deps: AppDeps,
    action_id: str,
    decide: Callable[[str, str], Awaitable[Any]],
) -> None:
    """A button naming a request in its value: the click acks, then ``decide(request id,
    clicker)`` runs guarded (the service checks who may decide, and answers in Slack: in the
    channel, to the clicker alone, when the click came from a channel's card)."""

    async def on_decision(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        clicker = user_of(body)
        with replies_in(channel_of(body), clicker):
            await deps.guarded(clicker, decide(button_value(body), clicker))

    app.action(action_id)(on_decision)


def modal_button(
    app: AsyncApp, deps: AppDeps, action_id: str, modal: Callable[[str], dict[str, Any]]
) -> None:
    """A button naming a request in its value: the click opens ``modal(request id)``."""

    async def on_open(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = modal(button_value(body)[:64])
        await deps.guarded(user_of(body), deps.open_view(body, view))

    app.action(action_id)(on_open)


def user_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id", ""))
    return str(body.get("user_id", ""))


def channel_of(body: dict[str, Any]) -> str:
    """The channel (not a DM) holding the message that was clicked; "" otherwise."""
    channel = body.get("channel")
    channel_id = str(channel.get("id") or "") if isinstance(channel, dict) else ""
    return channel_id if channel_id.startswith(("C", "G")) else ""


def button_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    first = actions[0] if isinstance(actions[0], dict) else {}
    return str(first.get("value") or "")


def selected_option(body: dict[str, Any]) -> dict[str, Any]:
    """The option picked in the select that sent this action (empty if none)."""
    return (body.get("actions") or [{}])[0].get("selected_option") or {}


def modal_state(body: dict[str, Any]) -> ModalState:
    """The request modal's state, as carried in the clicked view's metadata."""
    return ModalState.from_metadata((body.get("view") or {}).get("private_metadata"))


def input_value(values: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    """One input's state from ``view.state.values`` (empty when absent or malformed)."""
    found = values.get(block, {}).get(action)
    return found if isinstance(found, dict) else {}


async def answer(
    client: AsyncWebClient, body: dict[str, Any], handler: Subcommand, args: list[str]
) -> None:
    """Run a subcommand and show its answer only to the person who typed it."""
    reply = await handler(user_of(body), args, body)
    message = {"text": reply} if isinstance(reply, str) else reply
    response_url = str(body.get("response_url") or "")
    if response_url:
        sent = await AsyncWebhookClient(response_url).send_dict(
            {**message, "response_type": "ephemeral"}
        )
        if sent.status_code == 200:
            return
    await tell(client, user_of(body), str(message.get("text", "")))


async def tell(client: AsyncWebClient, user_id: str, text: str) -> None:
    """A direct message to ``user_id``; a Slack refusal is logged, not raised."""
    if not user_id:
        return
    try:
        channel = await client.conversations_open(users=user_id)
        await client.chat_postMessage(channel=channel["channel"]["id"], text=text)
    except SlackApiError as error:
        log.warning("cannot tell %s: %s", user_id, error.response.get("error"))


async def submit_draft(deps: AppDeps, draft: Draft) -> None:
    """Submit a draft the modal accepted; what the service refuses is DMed to the requester."""
    result = await deps.service.submit(draft)
    if result.errors:
        note = "Your request was not stored: " + " ".join(result.errors.values())
        await tell(deps.client, draft.requester_id, note)


async def submit_batch(deps: AppDeps, drafts: Sequence[Draft]) -> None:
    """Submit the drafts of a request over several accounts (one per account); what the
    service refuses is DMed to the requester."""
    if deps.batch is None or not drafts:
        return
    result = await deps.batch.submit(drafts)
    if result.errors:
        note = "Your request was not stored: " + " ".join(result.errors.values())
        await tell(deps.client, drafts[0].requester_id, note)
