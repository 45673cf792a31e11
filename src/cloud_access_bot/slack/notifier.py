"""Tells people about requests over Slack: approver DMs, the approval channel's card and its
thread, information-only copies, the requester's DM, the audit channel.

Anyone in an approval channel can click its buttons; the service decides whether the click
counts. A refusal is then answered to the clicker alone in that channel (an ephemeral message,
see :func:`replies_in`), not as a DM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.config import BotConfig, SelfApproval
from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.model import AccessRequest, EventType, MessageRef
from cloud_access_bot.ports import DMS_ONLY, Audience
from cloud_access_bot.slack import batch_views, usage_views, views

log = logging.getLogger(__name__)

#: Events after which the requester gets a new DM (a notification), not only an edited one.
NOTIFY_REQUESTER = frozenset(
    {
        EventType.GRANTED,
        EventType.DENIED,
        EventType.TIMED_OUT,
        EventType.EXPIRED,
        EventType.REVOKED,
        EventType.GRANT_FAILED,
        EventType.EXTENDED,
    }
)

#: ``MessageRef.user`` of the audit channel's post about a request.
AUDIT_CHANNEL_USER = "#audit"
#: ``MessageRef.user`` of the approval channel's card (buttons, and a thread of its steps).
APPROVAL_CHANNEL_USER = "#approval"
#: ``MessageRef.user`` of a copy for information only (a notified person or channel).
NOTIFIED_USER = "#notified"
#: Messages shown without buttons.
WITHOUT_BUTTONS = frozenset({AUDIT_CHANNEL_USER, NOTIFIED_USER})

#: (channel, user): the channel a click came from and who clicked, while its listener runs.
_CLICKED_IN: ContextVar[tuple[str, str] | None] = ContextVar("clicked_in", default=None)


@contextlib.contextmanager
def replies_in(channel: str, user_id: str) -> Iterator[None]:
    """While a click from ``channel`` is handled, what the clicker is told goes to them alone
    in that channel (``chat.postEphemeral``) instead of a DM."""
    token = _CLICKED_IN.set((channel, user_id))
    try:
        yield
    finally:
        _CLICKED_IN.reset(token)


class SlackNotifier:
    def __init__(self, client: AsyncWebClient, config: Callable[[], BotConfig]) -> None:
        self._client = client
        self._config = config
        self._listeners: list[Callable[[AccessRequest], Awaitable[None]]] = []
        #: Each person's DM channel with the bot (conversations.open, once per person).
        self._dm_channels: dict[str, str] = {}

    def on_change(self, listener: Callable[[AccessRequest], Awaitable[None]]) -> None:
        """Also call ``listener`` after every announcement or update (e.g. App Home)."""
        self._listeners.append(listener)

    async def _changed(self, request: AccessRequest) -> None:
        for listener in self._listeners:
            try:
                await listener(request)
            except Exception:
                log.exception("change listener failed for request %s", request.id)

    async def announce(
        self, request: AccessRequest, audience: Audience = DMS_ONLY
    ) -> tuple[list[MessageRef], MessageRef | None]:
        approvers = [a for a in request.approvers if a != request.requester_id]
        if self._break_glass():
            approvers = list(request.approvers)
        messages = await self._post_card(
            approvers,
            views.approval_message(request),
            views.approval_message(request, with_buttons=False),
            audience,
        )
        mine = await self.announce_to_requester(request)
        await self._changed(request)
        return messages, mine

    async def announce_to_requester(self, request: AccessRequest) -> MessageRef | None:
        return await self._post_dm(
            request.requester_id, views.requester_message(request, self._break_glass())
        )

    async def refresh(self, request: AccessRequest, event: EventType, actor: str) -> None:
        updates = [
            self._update(
                ref,
                views.approval_message(request, with_buttons=ref.user not in WITHOUT_BUTTONS),
            )
            # A batch's card shows all of its requests: refresh_batch keeps it up to date.
            for ref in (() if request.batch else request.messages)
        ]
        if request.requester_message:
            updates.append(
                self._update(
                    request.requester_message,
                    views.requester_message(request, self._break_glass()),
                )
            )
        await asyncio.gather(*updates)
        if event in views.THREAD_EVENTS:
            reply = views.thread_text(request, event, actor)
            if request.batch:
                # One card for several accounts: each reply says which account moved on.
                reply = f"{request.account_name}: {reply}"
            await asyncio.gather(
                *(
                    self._post(ref.channel, {"text": reply, "thread_ts": ref.ts})
                    for ref in request.messages
                    if ref.user == APPROVAL_CHANNEL_USER
                )
            )
        if event in NOTIFY_REQUESTER:
            text = views.update_text(request, event)
            account = self._config().account(request.account_name)
            if event is EventType.GRANTED and account and account.console_login_url:
                text += f"\nSign in with your usual role: <{account.console_login_url}|AWS console>"
            await self.tell(request.requester_id, text)
        await self._changed(request)

    async def announce_batch(
        self, requests: Sequence[AccessRequest], audience: Audience = DMS_ONLY
    ) -> tuple[list[MessageRef], list[MessageRef | None]]:
        lead = requests[0]
        everyone = dict.fromkeys(a for r in requests for a in r.approvers)
        approvers = [a for a in everyone if self._break_glass() or a != lead.requester_id]
        messages = await self._post_card(
            approvers,
            batch_views.batch_card(requests),
            batch_views.batch_card(requests, with_buttons=False),
            audience,
        )
        mine = [
            await self._post_dm(
                lead.requester_id, views.requester_message(request, self._break_glass())
            )
            for request in requests
        ]
        for request in requests:
            await self._changed(request)
        return messages, mine

    async def _post_card(
        self,
        approvers: Sequence[str],
        card: dict[str, Any],
        copy: dict[str, Any],
        audience: Audience,
    ) -> list[MessageRef]:
        """``card`` (with buttons) to the approval channel and by DM to every approver;
        ``copy`` (without) to the notified people and channels and to the audit channel."""
        channels = [audience.channel or "", *audience.channels]
        messages = await self._post_channels(channels, card, APPROVAL_CHANNEL_USER)
        if audience.dms or not messages:
            # Without the channel's card (none, or Slack refused it) the approvers get DMs:
            # a request is never left with nobody told.
            results = await asyncio.gather(*(self._post_dm(user, card) for user in approvers))
            messages += [m for m in results if m is not None]
        messages += await self._post_information(copy, audience)
        audit_channel = self._config().audit_channel
        if audit_channel:
            audit = await self._post(audit_channel, copy)
            if audit is not None:
                messages.append(MessageRef(audit.channel, audit.ts, AUDIT_CHANNEL_USER))
        return messages

    async def refresh_batch(self, requests: Sequence[AccessRequest]) -> None:
        await asyncio.gather(
            *(
                self._update(
                    ref,
                    batch_views.batch_card(requests, with_buttons=ref.user not in WITHOUT_BUTTONS),
                )
                for ref in requests[0].messages
            )
        )

    async def tell(self, user_id: str, text: str) -> None:
        clicked = _CLICKED_IN.get()
        if clicked and clicked[0] and clicked[1] == user_id:
            try:
                await self._client.chat_postEphemeral(channel=clicked[0], user=user_id, text=text)
                return
            except SlackApiError as error:
                log.info("ephemeral to %s refused: %s", user_id, error.response.get("error"))
        await self._post_dm(user_id, {"text": text})

    async def _post_information(self, copy: dict[str, Any], audience: Audience) -> list[MessageRef]:
        """The card without buttons to the notified people and channels."""
        sent = await asyncio.gather(*(self._post_dm(user, copy) for user in audience.notified))
        refs = [MessageRef(m.channel, m.ts, NOTIFIED_USER) for m in sent if m is not None]
        return refs + await self._post_channels(audience.notified_channels, copy, NOTIFIED_USER)

    async def _post_channels(
        self, channels: Sequence[str], message: dict[str, Any], marker: str
    ) -> list[MessageRef]:
        sent = await asyncio.gather(*(self._post(c, message) for c in channels if c))
        return [MessageRef(m.channel, m.ts, marker) for m in sent if m is not None]

    async def ask_extension(self, request: AccessRequest, audience: Audience = DMS_ONLY) -> None:
        """The ask, with its buttons, where the approval card went: threaded under each
        approval-channel card of the request, and by DM to the approvers when
        ``audience.dms`` or when no channel post went through (nobody is left untold)."""
        message = views.extension_message(request)
        cards = [r for r in request.messages if r.user == APPROVAL_CHANNEL_USER]
        posts = [self._post(card.channel, {**message, "thread_ts": card.ts}) for card in cards]
        posted = [ref for ref in await asyncio.gather(*posts) if ref is not None]
        if audience.dms or not posted:
            approvers = [a for a in request.approvers if a != request.requester_id]
            await asyncio.gather(*(self._post_dm(user, message) for user in approvers))

    def _break_glass(self) -> bool:
        return self._config().self_approval is SelfApproval.BREAK_GLASS

    async def remind(self, request: AccessRequest, approvers: Sequence[str]) -> None:
        cards = [r.channel for r in request.messages if r.user == APPROVAL_CHANNEL_USER]
        dmed = {r.user for r in request.messages}

        def text(user: str) -> str:
            return views.reminder_text(request, cards[0] if cards and user not in dmed else None)

        await asyncio.gather(*(self.tell(user, text(user)) for user in approvers))

    async def break_glass(self, request: AccessRequest, approver: str, reason: str) -> None:
        channel = self._config().audit_channel
        if channel:
            await self._post(channel, {"text": views.break_glass_text(request, approver, reason)})

    async def usage_reviewed(self, request: AccessRequest, review: RightSizing) -> None:
        await self._post_dm(request.requester_id, usage_views.usage_review_message(request, review))

    async def _post_dm(self, user_id: str, message: dict[str, Any]) -> MessageRef | None:
        channel = self._dm_channels.get(user_id)
        if channel is None:
            try:
                opened = await self._client.conversations_open(users=user_id)
            except SlackApiError as error:
                log.warning("cannot DM %s: %s", user_id, error.response.get("error"))
                return None
            # The DM between the bot and a person keeps its id: opened once per person.
            channel = self._dm_channels[user_id] = str(opened["channel"]["id"])
        ref = await self._post(channel, message)
        if ref is None:
            self._dm_channels.pop(user_id, None)  # opened again next time
        return MessageRef(ref.channel, ref.ts, user_id) if ref else None

    async def _post(self, channel: str, message: dict[str, Any]) -> MessageRef | None:
        try:
            response = await self._client.chat_postMessage(channel=channel, **message)
        except SlackApiError as error:
            log.error("message to %s lost: %s", channel, error.response.get("error"))
            return None
        return MessageRef(str(response["channel"]), str(response["ts"]))

    async def _update(self, ref: MessageRef, message: dict[str, Any]) -> None:
        try:
            await self._client.chat_update(channel=ref.channel, ts=ref.ts, **message)
        except SlackApiError as error:
            log.warning("cannot update message in %s: %s", ref.channel, error.response.get("error"))
