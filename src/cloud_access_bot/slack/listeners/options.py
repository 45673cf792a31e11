"""Options for the request modal's external selects: services, actions, resources."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.batch_form import accounts_of
from cloud_access_bot.slack.listeners.shared import AppDeps, modal_state

#: How long a resource suggestion may wait for discovery before answering "still loading".
SUGGESTION_BUDGET_S = 2.0


def register(app: AsyncApp, deps: AppDeps) -> None:
    suggestions = deps.suggestions

    @app.options(views.SERVICE_ACTION)
    async def on_service_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack(options=suggestions.services(str(body.get("value") or "")))

    @app.options(views.ACTIONS_ACTION)
    async def on_action_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        state = modal_state(body)
        query = str(body.get("value") or "")
        await ack(option_groups=suggestions.actions(state.service, query) if state.service else [])

    @app.options(views.RESOURCES_ACTION)
    async def on_resource_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        state = modal_state(body)
        if not (state.account and state.service):
            await ack(options=[])
            return
        query = str(body.get("value") or "")
        accounts = accounts_of(body.get("view") or {}, state)
        lookup = (
            suggestions.resources_in(accounts, state.service, query)
            if len(accounts) > 1
            else suggestions.resources(state.account, state.service, query)
        )
        try:
            options = await asyncio.wait_for(lookup, SUGGESTION_BUDGET_S)
        except TimeoutError:
            options = [views.option("Still discovering resources… type again", "loading")]
        await ack(options=options)
