"""A request over several accounts: its card's Approve and Deny (with a reason)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import batch_views
from cloud_access_bot.slack.listeners.form import reason_of
from cloud_access_bot.slack.listeners.shared import (
    AppDeps,
    decision_button,
    modal_button,
    user_of,
)


def register(app: AsyncApp, deps: AppDeps) -> None:
    batch = deps.batch
    if batch is None:
        return
    decision_button(app, deps, batch_views.APPROVE_BATCH_ACTION, batch.approve)
    modal_button(app, deps, batch_views.DENY_BATCH_ACTION, batch_views.deny_batch_modal)

    @app.view(batch_views.DENY_BATCH_CALLBACK)
    async def on_deny_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        batch_id = str(view.get("private_metadata") or "")
        await deps.guarded(user_of(body), batch.deny(batch_id, user_of(body), reason_of(view)))
