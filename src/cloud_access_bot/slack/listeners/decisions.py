"""Approving, denying (with a reason), break-glass approval, cancelling and revoking."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.form import reason_of
from cloud_access_bot.slack.listeners.shared import (
    AppDeps,
    button_value,
    channel_of,
    decision_button,
    modal_button,
    user_of,
)
from cloud_access_bot.slack.notifier import replies_in


def register(app: AsyncApp, deps: AppDeps) -> None:
    service = deps.service
    decision_button(app, deps, views.APPROVE_ACTION, service.approve)
    decision_button(app, deps, views.CANCEL_ACTION, service.cancel)
    decision_button(app, deps, views.REVOKE_ACTION, service.revoke)
    modal_button(app, deps, views.BREAK_GLASS_ACTION, views.break_glass_modal)

    @app.action(views.DENY_ACTION)
    async def on_deny(ack: AsyncAck, body: dict[str, Any]) -> None:
        """The reason modal opens only for someone who may deny: a stranger clicking Deny on
        an approval channel's card is told so there, at once."""
        await ack()
        clicker, request_id = user_of(body), button_value(body)[:64]

        async def open_if_allowed() -> None:
            if await service.may_deny(request_id, clicker):
                await deps.open_view(body, views.deny_modal(request_id))

        with replies_in(channel_of(body), clicker):
            await deps.guarded(clicker, open_if_allowed())

    @app.view(views.DENY_CALLBACK)
    async def on_deny_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        request_id = str(view.get("private_metadata") or "")
        await deps.guarded(user_of(body), service.deny(request_id, user_of(body), reason_of(view)))

    @app.view(views.BREAK_GLASS_CALLBACK)
    async def on_break_glass_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        await ack()
        request_id = str(view.get("private_metadata") or "")
        work = service.approve(request_id, user_of(body), break_glass_reason=reason_of(view))
        await deps.guarded(user_of(body), work)
