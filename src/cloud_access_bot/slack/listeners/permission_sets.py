"""The Identity Center modal: shown when the account picked grants IAM Identity Center
permission sets (``access_mode: permission_set``) or is the groups account, and its
submission."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.config import BotConfig
from cloud_access_bot.service import Draft
from cloud_access_bot.slack import identity_center_views as ic_views
from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.shared import AppDeps, input_value, submit_draft, user_of

#: Fields of a draft and the block showing each one's error (others go to the picker).
ERROR_BLOCKS = {"reason": "reason", "duration": "duration", "account": "account"}


async def show_modal(deps: AppDeps, body: dict[str, Any], account_name: str) -> None:
    """Replace the clicked modal with the permission set modal of ``account_name``."""
    config = deps.config()
    account = config.accounts[account_name]
    offers = await deps.identity_center.offers(account) if deps.identity_center else []
    view = body.get("view") or {}
    await deps.client.views_update(
        view_id=view["id"],
        hash=view.get("hash"),
        view=ic_views.permission_set_modal(config, account_name, offers),
    )


def read_draft(view: dict[str, Any], user_id: str, config: BotConfig) -> Draft:
    """The submitted modal as a Draft (validated by the service): the picked name is a group
    in the groups account, a permission set elsewhere."""
    values = view.get("state", {}).get("values", {})

    def picked(block: str, action: str) -> str:
        chosen = input_value(values, block, action).get("selected_option") or {}
        return str(chosen.get("value", ""))

    try:
        minutes = int(picked("duration", views.DURATION_ACTION))
    except ValueError:
        minutes = 0
    target = picked("permission_set", ic_views.PERMISSION_SET_ACTION)
    account_name = str(view.get("private_metadata") or "")
    group = ic_views.is_groups_account(config, account_name)
    return Draft(
        requester_id=user_id,
        account_name=account_name,
        # The role (or group) the requester signs in with through the access portal.
        login_role=target,
        reason=str(input_value(values, "reason", views.REASON_ACTION).get("value") or ""),
        duration_minutes=minutes,
        services=(),
        submission_id=str(view.get("id") or "") or None,
        permission_set=None if group else target,
        group=target if group else None,
    )


def register(app: AsyncApp, deps: AppDeps) -> None:
    @app.view(ic_views.PERMISSION_SET_CALLBACK)
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = user_of(body)
        draft = read_draft(view, user_id, deps.config())
        errors = deps.service.validate(draft)
        if errors:
            present = {
                b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"
            }
            shown: dict[str, str] = {}
            for field, message in errors.items():
                block = ERROR_BLOCKS.get(field, "permission_set")
                block = block if block in present else "account"
                shown[block] = (shown.get(block, "") + " " + message).strip()[:2000]
            await ack(response_action="errors", errors=shown)
            return
        await ack()
        await deps.guarded(user_id, submit_draft(deps, draft))
