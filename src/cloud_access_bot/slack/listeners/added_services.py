"""The request modal's list of services: adding the one being filled in, removing one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.form import current_choice
from cloud_access_bot.slack.listeners.shared import (
    AppDeps,
    button_value,
    modal_state,
    tell,
    user_of,
)
from cloud_access_bot.slack.views import ModalState

FULL_FORM = "This request is as large as one form can hold: submit it, then ask again."
NOTHING_PICKED = "Pick at least one action for this service before adding another one."


def register(app: AsyncApp, deps: AppDeps) -> None:
    @app.action(views.ADD_SERVICE_ACTION)
    async def on_add_service(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        state = modal_state(body)
        current = current_choice(body.get("view") or {}, state)
        if current is None:
            await deps.guarded(user_of(body), tell(deps.client, user_of(body), NOTHING_PICKED))
            return
        grown = ModalState(state.account, None, (*state.added, current), state.also)
        if len(grown.to_metadata()) > views.MAX_METADATA:
            await deps.guarded(user_of(body), tell(deps.client, user_of(body), FULL_FORM))
            return
        await deps.guarded(user_of(body), deps.update_modal(body, grown))

    @app.action(views.REMOVE_SERVICE_ACTION)
    async def on_remove_service(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        state = modal_state(body)
        index = button_value(body)
        kept = tuple(c for i, c in enumerate(state.added) if str(i) != index)
        await deps.guarded(user_of(body), deps.update_modal(body, replace(state, added=kept)))
