"""A request over several accounts: the modal's submission with "Also in these accounts",
and its card's Approve and Deny (with a reason)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import batch_views, views
from cloud_access_bot.slack.listeners.batch_form import read_batch
from cloud_access_bot.slack.listeners.form import error_blocks, reason_of
from cloud_access_bot.slack.listeners.shared import (
    AppDeps,
    decision_button,
    modal_button,
    modal_state,
    submit_batch,
    user_of,
)
from cloud_access_bot.slack.views import ModalState


def register(app: AsyncApp, deps: AppDeps) -> None:
    batch = deps.batch
    if batch is None:
        return

    @app.action(views.ALSO_ACCOUNTS_ACTION)
    async def on_also_accounts(ack: AsyncAck, body: dict[str, Any]) -> None:
        """Show the banners (and ticket input) of the accounts just picked."""
        await ack()
        picked = (body.get("actions") or [{}])[0].get("selected_options") or []
        also = tuple(str(o.get("value")) for o in picked if isinstance(o, dict))
        state = replace(modal_state(body), also=also[: views.MAX_ALSO])
        await deps.guarded(user_of(body), deps.update_modal(body, state))

    decision_button(app, deps, batch_views.APPROVE_BATCH_ACTION, batch.approve)
    modal_button(app, deps, batch_views.DENY_BATCH_ACTION, batch_views.deny_batch_modal)

    @app.view(batch_views.DENY_BATCH_CALLBACK)
    async def on_deny_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        batch_id = str(view.get("private_metadata") or "")
        await deps.guarded(user_of(body), batch.deny(batch_id, user_of(body), reason_of(view)))


async def on_submit(
    deps: AppDeps, ack: AsyncAck, view: dict[str, Any], state: ModalState, user_id: str
) -> None:
    """The request modal submitted with more than one account: one request per account."""
    assert deps.batch is not None
    drafts, errors = await read_batch(view, state, user_id, deps.suggestions, deps.config())
    if drafts:
        errors = {**deps.batch.validate(drafts), **errors}
    if errors or not drafts:
        await ack(response_action="errors", errors=error_blocks(errors, state, view))
        return
    await ack()
    await deps.guarded(user_id, submit_batch(deps, drafts))
