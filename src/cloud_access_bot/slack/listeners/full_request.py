"""The "Show full request" button: every action and resource of a request in a modal.

Approval messages summarise a large request (Slack holds at most 3,000 characters per text);
this button opens the complete list, read from the store, for the people who may see it (the
service decides who).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.shared import AppDeps, button_value, user_of


def register(app: AsyncApp, deps: AppDeps) -> None:
    async def show(body: dict[str, Any]) -> None:
        request = await deps.service.viewable(button_value(body)[:64], user_of(body))
        if request is not None:
            await deps.open_view(body, views.full_request_modal(request))

    @app.action(views.SHOW_FULL_ACTION)
    async def on_show_full(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await deps.guarded(user_of(body), show(body))
