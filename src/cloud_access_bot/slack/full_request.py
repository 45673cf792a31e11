"""The "Show full request" button: every action and resource of a request in a modal.

Approval messages summarise a large request (they cannot hold more than 3,000 characters per
text); this button opens the complete list, read from the store, for the people who may see
it (the service decides who).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.service import AccessService
from cloud_access_bot.slack import views


def register_full_request(app: AsyncApp, client: AsyncWebClient, service: AccessService) -> None:
    @app.action(views.SHOW_FULL_ACTION)
    async def on_show_full(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        user = str((body.get("user") or {}).get("id", ""))
        actions = body.get("actions") or [{}]
        request_id = str(actions[0].get("value") or "")[:64]
        request = await service.viewable(request_id, user)
        if request is not None:
            view = views.full_request_modal(request)
            await client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
