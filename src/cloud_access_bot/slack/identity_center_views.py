"""Block Kit for IAM Identity Center requests: the permission set modal (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud_access_bot.config import AccessMode, BotConfig
from cloud_access_bot.ports import TargetOffer
from cloud_access_bot.slack import views
from cloud_access_bot.slack.views import duration_label, option, plain

PERMISSION_SET_CALLBACK = "permission_set_request"
PERMISSION_SET_ACTION = "permission_set_select"

#: What revoking cannot do, said wherever the access is offered (docs/identity-center.md).
SESSION_NOTE = (
    "Expiry or revocation removes the {what} from you; a console or CLI session you "
    "already opened from the AWS access portal lasts until its own session duration ends."
)
#: Modes with their own modal (request_permission_set uses the usual one).
PICKER_MODES = frozenset({AccessMode.PERMISSION_SET, AccessMode.GROUP_MEMBERSHIP})


def uses_identity_center(config: BotConfig, account_name: str | None) -> bool:
    """Whether the account grants permission sets or groups (and so has this modal)."""
    account = config.account(account_name or "")
    return account is not None and account.access_mode in PICKER_MODES


def is_groups_account(config: BotConfig, account_name: str) -> bool:
    account = config.account(account_name)
    return account is not None and account.access_mode is AccessMode.GROUP_MEMBERSHIP


def permission_set_modal(
    config: BotConfig, account_name: str, offers: Sequence[TargetOffer]
) -> dict[str, Any]:
    """The request modal of an account granting permission sets: reason, duration, account and
    one of the account's permission sets (as Identity Center describes them), or for the groups
    account one of the groups."""
    durations = config.durations_for(account_name)
    what = "group" if is_groups_account(config, account_name) else "permission set"
    blocks: list[dict[str, Any]] = [
        _input(
            "reason",
            "Why do you need access?",
            {
                "type": "plain_text_input",
                "action_id": views.REASON_ACTION,
                "multiline": True,
                "max_length": 1000,
            },
        ),
        _input(
            "duration",
            "For how long?",
            {
                "type": "static_select",
                "action_id": views.DURATION_ACTION,
                "options": [option(duration_label(m), str(m)) for m in durations][:100],
            },
        ),
        _input(
            "account",
            "AWS account",
            {
                "type": "static_select",
                "action_id": views.ACCOUNT_ACTION,
                "options": [option(name, name) for name in config.accounts][:100],
                "initial_option": option(account_name, account_name),
            },
            dispatch=True,
        ),
    ]
    blocks.append(_picker(account_name, what, offers))
    blocks.append(_context(SESSION_NOTE.format(what=what)))
    return {
        "type": "modal",
        "callback_id": PERMISSION_SET_CALLBACK,
        "title": plain("Request AWS access"),
        "submit": plain("Request"),
        "close": plain("Cancel"),
        "private_metadata": account_name,
        "blocks": blocks,
    }


def _picker(account_name: str, what: str, offers: Sequence[TargetOffer]) -> dict[str, Any]:
    """The permission set (or group) select, or why there is nothing to pick."""
    if not offers:
        return _context(
            f"None of the {what}s configured for {account_name} exists in IAM "
            "Identity Center: tell the bot's admins."
        )
    return _input(
        "permission_set",
        "Group to join" if what == "group" else "Permission set",
        {
            "type": "static_select",
            "action_id": PERMISSION_SET_ACTION,
            "options": [_offer_option(offer) for offer in offers][:100],
        },
    )


def _offer_option(offer: TargetOffer) -> dict[str, Any]:
    made = option(offer.name, offer.name)
    if offer.description:
        made["description"] = plain(offer.description)
    return made


def _input(
    block_id: str, label: str, element: dict[str, Any], *, dispatch: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
    }
    if dispatch:
        block["dispatch_action"] = True
    return block


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": views.escape(text)}]}
