"""What an ended grant was used for: the "What was used" button on the requester's and the
approvers' messages, and "Request the same smaller set" on the usage review DM.

"What was used" shows the answer of ``audit activity`` (``AppDeps.usage``, the same code path)
to those the service lets see the request; CloudTrail failing is said in the modal. The
smaller set is read from the recorded review, never from the button, and offered to the
requester only (the service decides both).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError

from cloud_access_bot.ports import TrailUnavailable
from cloud_access_bot.slack import usage_views, views
from cloud_access_bot.slack.listeners.shared import AppDeps, button_value, tell, user_of

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: AppDeps) -> None:
    async def show(body: dict[str, Any]) -> None:
        request = await deps.service.viewable(button_value(body)[:64], user_of(body))
        if request is None or deps.usage is None:
            return
        # The trigger expires in 3 s and CloudTrail takes longer: open first, then fill in.
        opened = await deps.client.views_open(
            trigger_id=str(body.get("trigger_id", "")), view=usage_views.usage_modal(request)
        )
        try:
            shown = usage_views.usage_modal(request, await deps.usage(request))
        except TrailUnavailable as error:
            shown = usage_views.usage_modal(request, problem=str(error))
        try:
            await deps.client.views_update(view_id=opened["view"]["id"], view=shown)
        except SlackApiError as error:  # closed meanwhile: nobody is waiting for the answer
            log.info("usage answer not shown: %s", error.response.get("error"))

    async def smaller(body: dict[str, Any]) -> None:
        user = user_of(body)
        found = await deps.service.smaller_set(button_value(body)[:64], user)
        if found is None:
            return
        request, used = found
        config = deps.config()
        if config.account(request.account_name) is None:
            await tell(
                deps.client, user, f"Account {request.account_name} is not offered any more."
            )
            return
        await deps.open_view(body, usage_views.smaller_set_modal(config, request, used))

    @app.action(views.USAGE_ACTION)
    async def on_usage(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await deps.guarded(user_of(body), show(body))

    @app.action(views.SMALLER_SET_ACTION)
    async def on_smaller_set(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await deps.guarded(user_of(body), smaller(body))
