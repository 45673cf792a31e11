"""Asking for more time on active access, and the approvers' answer."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.shared import (
    AppDeps,
    button_value,
    input_value,
    user_of,
)


def register(app: AsyncApp, deps: AppDeps) -> None:
    service = deps.service

    @app.action(views.EXTEND_ACTION)
    async def on_extend(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = views.extend_modal(button_value(body)[:64], deps.config().durations_minutes)
        await deps.guarded(user_of(body), deps.open_view(body, view))

    @app.view(views.EXTEND_CALLBACK)
    async def on_extend_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        chosen = input_value(values, "extend", views.EXTEND_ACTION_SELECT).get("selected_option")
        try:
            minutes = int((chosen or {}).get("value", ""))
        except ValueError:
            await ack(response_action="errors", errors={"extend": "Pick a duration."})
            return
        await ack()
        request_id = str(view.get("private_metadata") or "")
        work = service.ask_extension(request_id, user_of(body), minutes)
        await deps.guarded(user_of(body), work)

    @app.action(views.APPROVE_EXTENSION_ACTION)
    async def on_approve_extension(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        work = service.decide_extension(button_value(body), user_of(body), approve=True)
        await deps.guarded(user_of(body), work)

    @app.action(views.DENY_EXTENSION_ACTION)
    async def on_deny_extension(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        work = service.decide_extension(button_value(body), user_of(body), approve=False)
        await deps.guarded(user_of(body), work)
