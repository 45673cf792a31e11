"""Asking for more time on active access, and the approvers' answer."""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.shared import (
    AppDeps,
    decision_button,
    input_value,
    modal_button,
    user_of,
)


def register(app: AsyncApp, deps: AppDeps) -> None:
    service = deps.service

    def extend_modal(request_id: str) -> dict[str, Any]:
        return views.extend_modal(request_id, deps.config().durations_minutes)

    modal_button(app, deps, views.EXTEND_ACTION, extend_modal)
    decide = service.decide_extension
    decision_button(app, deps, views.APPROVE_EXTENSION_ACTION, partial(decide, approve=True))
    decision_button(app, deps, views.DENY_EXTENSION_ACTION, partial(decide, approve=False))

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
