"""Approving, denying (with a reason), break-glass approval, cancelling and revoking."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.form import reason_of
from cloud_access_bot.slack.listeners.shared import AppDeps, button_value, user_of


def register(app: AsyncApp, deps: AppDeps) -> None:
    service = deps.service

    @app.action(views.APPROVE_ACTION)
    async def on_approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await deps.guarded(user_of(body), service.approve(button_value(body), user_of(body)))

    @app.action(views.DENY_ACTION)
    async def on_deny(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = views.deny_modal(button_value(body)[:64])
        await deps.guarded(user_of(body), deps.open_view(body, view))

    @app.view(views.DENY_CALLBACK)
    async def on_deny_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        request_id = str(view.get("private_metadata") or "")
        await deps.guarded(user_of(body), service.deny(request_id, user_of(body), reason_of(view)))

    @app.action(views.BREAK_GLASS_ACTION)
    async def on_break_glass(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = views.break_glass_modal(button_value(body)[:64])
        await deps.guarded(user_of(body), deps.open_view(body, view))

    @app.view(views.BREAK_GLASS_CALLBACK)
    async def on_break_glass_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        await ack()
        request_id = str(view.get("private_metadata") or "")
        work = service.approve(request_id, user_of(body), break_glass_reason=reason_of(view))
        await deps.guarded(user_of(body), work)

    @app.action(views.CANCEL_ACTION)
    async def on_cancel(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await deps.guarded(user_of(body), service.cancel(button_value(body), user_of(body)))

    @app.action(views.REVOKE_ACTION)
    async def on_revoke(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await deps.guarded(user_of(body), service.revoke(button_value(body), user_of(body)))
