"""Block Kit for a request over several accounts: its one approval card (pure).

The card lists every account with its status and its resources; Approve and Deny act on the
batch (service_batch), and each active account has its own revoke button acting on that
account's request alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.slack.views import (
    DENY_CALLBACK,
    REVOKE_ACTION,
    banner,
    duration_label,
    escape,
    plain,
    reason_block,
    reason_modal,
    status_line,
    truncate,
)

APPROVE_BATCH_ACTION = "approve_batch"
DENY_BATCH_ACTION = "deny_batch"
DENY_BATCH_CALLBACK = f"{DENY_CALLBACK}_batch"


def batch_card(requests: Sequence[AccessRequest], *, with_buttons: bool = True) -> dict[str, Any]:
    """The approvers' DM (and the audit channel's post) about a batch; ``requests`` are its
    requests in order, the first being the batch's."""
    lead = requests[0]
    fields = [
        f"*Requester*\n<@{lead.requester_id}>",
        f"*Accounts*\n{len(requests)}",
        f"*Login role*\n{escape(lead.login_role)}",
        f"*Duration*\n{duration_label(lead.duration_minutes)}",
        *([f"*Ticket*\n{escape(lead.ticket)}"] if lead.ticket else []),
    ]
    actions = ", ".join(f"`{escape(a)}`" for a in dict.fromkeys(lead.actions))
    blocks: list[dict[str, Any]] = [
        *[banner(text) for text in [_warnings(requests)] if text],
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*Access request* `{lead.id}` in {len(requests)} accounts",
            },
            "fields": [{"type": "mrkdwn", "text": truncate(f, 2000)} for f in fields],
        },
        reason_block(lead),
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": truncate(f"*Actions in every account*\n{actions}", 3000),
            },
        },
        *(_account_section(r, with_buttons) for r in requests),
    ]
    if with_buttons and any(r.status is Status.PENDING for r in requests):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"batch.{lead.id}",
                "elements": [
                    _button(APPROVE_BATCH_ACTION, "Approve", lead.id, "primary"),
                    _button(DENY_BATCH_ACTION, "Deny", lead.id, "danger"),
                ],
            }
        )
    statuses = ", ".join(f"{r.account_name} {r.status.value}" for r in requests)
    text = f"Access request {lead.id} from <@{lead.requester_id}>: {statuses}"
    return {"text": truncate(text, 3000), "blocks": blocks}


def _account_section(request: AccessRequest, with_buttons: bool) -> dict[str, Any]:
    """One account: its name and id, its request's status, the resources asked for in it,
    and while it is active a button revoking it (that account's request alone)."""
    lines = [
        f"*{escape(request.account_name)}* ({request.account_id}) `{request.id}`",
        status_line(request),
    ]
    for access in request.services:
        resources = ", ".join(f"`{escape(r)}`" for r in access.resources)
        lines.append(f"• {escape(access.service)}: {resources}")
    section: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate("\n".join(lines), 3000)},
    }
    if with_buttons and request.status is Status.ACTIVE:
        label = truncate(f"Revoke in {request.account_name}", 75)
        section["accessory"] = _button(REVOKE_ACTION, label, request.id, "danger")
    return section


def _warnings(requests: Sequence[AccessRequest]) -> str:
    """Every account's banner text in one (production, or a rule's ``warning``)."""
    return "\n".join(f"{r.account_name}: {r.warning}" for r in requests if r.warning)[:2900]


def _button(action_id: str, label: str, value: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": plain(label),
        "value": value,
        "style": style,
    }


def deny_batch_modal(batch_id: str) -> dict[str, Any]:
    return reason_modal(
        DENY_BATCH_CALLBACK,
        batch_id,
        "Deny request",
        "Reason (shown to the requester; denies your accounts)",
    )
