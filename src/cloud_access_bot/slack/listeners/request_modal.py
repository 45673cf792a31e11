"""The request modal: picking account, service and preset, refreshing resources, submitting."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.identity_center_views import uses_identity_center
from cloud_access_bot.slack.listeners import batch, permission_sets
from cloud_access_bot.slack.listeners.batch_form import accounts_of
from cloud_access_bot.slack.listeners.form import error_blocks, read_draft
from cloud_access_bot.slack.listeners.shared import (
    AppDeps,
    modal_state,
    selected_option,
    submit_draft,
    user_of,
)
from cloud_access_bot.slack.views import ModalState


def register(app: AsyncApp, deps: AppDeps) -> None:
    suggestions = deps.suggestions

    @app.action(views.ACCOUNT_ACTION)
    async def on_account(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        picked = selected_option(body).get("value")
        state = ModalState(account=picked, also=modal_state(body).also)
        if state.account and uses_identity_center(deps.config(), state.account):
            await deps.guarded(user_of(body), permission_sets.show_modal(deps, body, state.account))
            return
        await deps.guarded(user_of(body), deps.update_modal(body, state))

    @app.action(views.SERVICE_ACTION)
    async def on_service(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        state = replace(modal_state(body), service=selected_option(body).get("value"))
        if state.account and state.service:
            for account in accounts_of(body.get("view") or {}, state):
                suggestions.warm(account, state.service)
        await deps.guarded(user_of(body), deps.update_modal(body, state))

    @app.action(views.PRESET_SELECT_ACTION)
    async def on_preset(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        state = modal_state(body)
        defaults = suggestions.preset(str(selected_option(body).get("value", "")))
        if defaults is None or not state.account:
            return
        chosen = replace(state, service=defaults.service)
        suggestions.warm(state.account, defaults.service)
        updated = views.prefilled_modal(
            deps.config(), chosen, actions=defaults.actions, note=views.preset_note(defaults)
        )
        await deps.guarded(user_of(body), deps.update_modal(body, chosen, updated))

    @app.action(views.REFRESH_RESOURCES_ACTION)
    async def on_refresh_resources(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        state = modal_state(body)
        if state.account and state.service:
            suggestions.warm(state.account, state.service, refresh=True)

    @app.view(views.REQUEST_CALLBACK)
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = user_of(body)
        state = ModalState.from_metadata(view.get("private_metadata"))
        if deps.batch is not None and len(accounts_of(view, state)) > 1:
            await batch.on_submit(deps, ack, view, state, user_id)
            return
        draft, errors = await read_draft(view, state, user_id, suggestions)
        if draft is not None:
            errors = {**deps.service.validate(draft), **errors}
        if errors or draft is None:
            await ack(response_action="errors", errors=error_blocks(errors, state, view))
            return
        await ack()
        await deps.guarded(user_id, submit_draft(deps, draft))
