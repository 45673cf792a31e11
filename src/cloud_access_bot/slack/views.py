"""Block Kit builders: pure functions from domain values to Slack JSON.

Nothing here talks to Slack; listeners and the notifier call these and send the result. Every
piece of user-supplied text goes through :func:`escape` so that a reason such as
``<!channel>`` is shown, not executed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cloud_access_bot.config import AccessMode, AccountConfig, BotConfig
from cloud_access_bot.config_rules import warning_of
from cloud_access_bot.domain import listing
from cloud_access_bot.domain.identity_center import revoked_session_note
from cloud_access_bot.domain.model import AccessRequest, EventType, Status, iso
from cloud_access_bot.domain.presets import PresetDefaults
from cloud_access_bot.domain.schedule import ended_before_start, is_scheduled
from cloud_access_bot.slack import schedule_views
from cloud_access_bot.slack.account_picker import account_label

REQUEST_CALLBACK = "access_request"
DENY_CALLBACK = "deny_reason"
BREAK_GLASS_CALLBACK = "break_glass_reason"
EXTEND_CALLBACK = "extend_request"
EXTEND_ACTION_SELECT = "extend_minutes"

ACCOUNT_ACTION = "account_select"
TICKET_ACTION = "ticket_input"
SERVICE_ACTION = "service_select"
ACTIONS_ACTION = "actions_select"
RESOURCES_ACTION = "resources_select"
ARNS_ACTION = "arns_input"
REASON_ACTION = "reason_input"
DURATION_ACTION = "duration_select"
LOGIN_ROLE_ACTION = "login_role_select"
ADD_SERVICE_ACTION = "add_service"
REFRESH_RESOURCES_ACTION = "refresh_resources"
PRESET_SELECT_ACTION = "modal_preset_select"
REMOVE_SERVICE_ACTION = "remove_service"
#: The request modal's optional "Also in these accounts" multi-select (slack/batch_views.py).
ALSO_ACCOUNTS_ACTION = "also_accounts_select"
ALSO_ACCOUNTS_BLOCK = "also_accounts"

APPROVE_ACTION = "approve"
DENY_ACTION = "deny"
CANCEL_ACTION = "cancel"
BREAK_GLASS_ACTION = "break_glass"
EXTEND_ACTION = "extend"
APPROVE_EXTENSION_ACTION = "approve_extension"
DENY_EXTENSION_ACTION = "deny_extension"
REVOKE_ACTION = "revoke"
SHOW_FULL_ACTION = "show_full_request"
FULL_REQUEST_CALLBACK = "full_request"
USAGE_ACTION = "what_was_used"
SMALLER_SET_ACTION = "request_smaller_set"

STATUS_EMOJI = {
    Status.PENDING: ":hourglass_flowing_sand:",
    Status.APPROVED: ":white_check_mark:",
    Status.ACTIVE: ":large_green_circle:",
    Status.EXPIRED: ":checkered_flag:",
    Status.REVOKED: ":no_entry:",
    Status.DENIED: ":x:",
    Status.CANCELLED: ":wastebasket:",
    Status.TIMED_OUT: ":alarm_clock:",
    Status.FAILED: ":warning:",
}


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: user text can never mention @channel or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, 75), "emoji": True}


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def duration_label(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours > 1 else "")
    return f"{minutes} minute" + ("s" if minutes > 1 else "")


# -- the request modal ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceChoice:
    """One service already added to the request: option values as the selects sent them."""

    service: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    arns: tuple[str, ...] = ()

    def to_list(self) -> list[Any]:
        return [self.service, list(self.actions), list(self.resources), list(self.arns)]

    @classmethod
    def from_list(cls, data: Any) -> ServiceChoice | None:
        if not (isinstance(data, list) and len(data) == 4 and isinstance(data[0], str)):
            return None
        parts = [tuple(str(v) for v in part) for part in data[1:] if isinstance(part, list)]
        if len(parts) != 3:
            return None
        return cls(data[0], parts[0], parts[1], parts[2])


@dataclass(frozen=True)
class ModalState:
    """Where the requester is in the cascade; kept in the view's private_metadata.

    ``added`` holds the services already added with "Add another service"; ``service`` is the
    one being filled in now.
    """

    account: str | None = None
    service: str | None = None
    added: tuple[ServiceChoice, ...] = ()
    #: The accounts picked in "Also in these accounts" (their banners and ticket input show).
    also: tuple[str, ...] = ()

    def to_metadata(self) -> str:
        return json.dumps(
            {
                "account": self.account,
                "service": self.service,
                "added": [choice.to_list() for choice in self.added],
                **({"also": list(self.also)} if self.also else {}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_metadata(cls, text: str | None) -> ModalState:
        """Forged or truncated metadata reads as an empty state, never as an exception."""
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        account, service = data.get("account"), data.get("service")
        raw = data.get("added")
        added: list[Any] = raw if isinstance(raw, list) else []
        choices = tuple(c for c in map(ServiceChoice.from_list, added) if c is not None)
        also = data.get("also")
        return cls(
            account=account if isinstance(account, str) else None,
            service=service if isinstance(service, str) else None,
            added=choices[:MAX_SERVICES],
            also=tuple(a for a in also if isinstance(a, str))[:MAX_ALSO]
            if isinstance(also, list)
            else (),
        )


#: Services one request may cover (each adds blocks; Slack allows 100 per modal).
MAX_SERVICES = 8
#: Slack's private_metadata limit.
MAX_METADATA = 3000
#: Accounts "Also in these accounts" may hold (``max_accounts_per_request`` is at most 40).
MAX_ALSO = 40


def block_id(field: str, state: ModalState) -> str:
    """Block ids of dependent inputs carry what they depend on, so Slack resets them."""
    step = len(state.added)
    if field == "service":
        return f"service.{state.account}.{step}"
    if field in ("actions", "resources", "arns"):
        return f"{field}.{state.account}.{state.service}.{step}"
    return field


def _input(
    field: str,
    label: str,
    element: dict[str, Any],
    state: ModalState,
    *,
    optional: bool = False,
    dispatch: bool = False,
    hint: str | None = None,
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id(field, state),
        "label": plain(label),
        "element": element,
        "optional": optional,
    }
    if dispatch:
        block["dispatch_action"] = True
    if hint:
        block["hint"] = plain(hint)
    return block


def request_modal(config: BotConfig, state: ModalState) -> dict[str, Any]:
    """The /request modal for the cascade step ``state`` has reached."""
    blocks = [
        _reason_input(state),
        _duration_input(config, state),
        *schedule_views.start_input(config),
        _account_input(config, state),
    ]
    if state.account in config.accounts:
        blocks.extend(_account_step(config, state))
    if state.account in config.accounts and state.service:
        blocks.extend(_service_inputs(state))
        blocks.append(_service_tools(state))
    return {
        "type": "modal",
        "callback_id": REQUEST_CALLBACK,
        "title": plain("Request AWS access"),
        "submit": plain("Request"),
        "close": plain("Cancel"),
        "private_metadata": state.to_metadata(),
        "blocks": blocks,
    }


def _reason_input(state: ModalState) -> dict[str, Any]:
    return _input(
        "reason",
        "Why do you need access?",
        {
            "type": "plain_text_input",
            "action_id": REASON_ACTION,
            "multiline": True,
            "max_length": 1000,
        },
        state,
    )


def _duration_input(config: BotConfig, state: ModalState) -> dict[str, Any]:
    """The account's offered durations; every configured one until an account is picked."""
    minutes = (
        config.durations_for(state.account)
        if state.account in config.accounts
        else config.durations_minutes
    )
    return _input(
        "duration",
        "For how long?",
        {
            "type": "static_select",
            "action_id": DURATION_ACTION,
            "options": [option(duration_label(m), str(m)) for m in minutes][:100],
        },
        state,
    )


def _account_input(config: BotConfig, state: ModalState) -> dict[str, Any]:
    return _input(
        "account",
        "AWS account",
        {
            # Searched (slack/account_picker.py): a static select holds 100 options.
            "type": "external_select",
            "action_id": ACCOUNT_ACTION,
            "min_query_length": 0,
            "placeholder": plain("Type a name, id, OU or tag"),
            **(
                {"initial_option": option(_account_label(state.account, config), state.account)}
                if state.account in config.accounts
                else {}
            ),
        },
        state,
        dispatch=True,
    )


def _account_step(config: BotConfig, state: ModalState) -> list[dict[str, Any]]:
    """Once an account is picked: its login role, the presets, what was added, the service."""
    assert state.account is not None
    service = _input(
        "service",
        "Another AWS service" if state.added else "AWS service",
        {
            "type": "external_select",
            "action_id": SERVICE_ACTION,
            "min_query_length": 1,
            "placeholder": plain("Type to search, e.g. s3"),
            **({"initial_option": option(state.service, state.service)} if state.service else {}),
        },
        state,
        optional=bool(state.added),
        dispatch=True,
    )
    return [
        *_login_role_picker(config, state),
        *_also_accounts_input(config, state),
        *_account_notes(config.accounts[state.account], state),
        *_also_notes(config, state),
        *_preset_picker(config),
        *_added_summary(state),
        service,
    ]


def _also_accounts_input(config: BotConfig, state: ModalState) -> list[dict[str, Any]]:
    """More accounts for the same services and actions (one request per account, one
    approval card); searched like the Account picker. Not offered where there is only one
    account to pick."""
    if len(config.accounts) < 2 or config.max_accounts_per_request < 2:
        return []
    return [
        _input(
            ALSO_ACCOUNTS_BLOCK,
            "Also in these accounts",
            {
                "type": "multi_external_select",
                "action_id": ALSO_ACCOUNTS_ACTION,
                "min_query_length": 0,
                "placeholder": plain("Same services and actions in more accounts"),
                **(
                    {"initial_options": [option(_account_label(a, config), a) for a in also]}
                    if (also := [a for a in state.also if a in config.accounts])
                    else {}
                ),
            },
            state,
            optional=True,
            dispatch=True,
            hint=f"Up to {config.max_accounts_per_request} accounts in all, granting the same "
            "way. A typed ARN goes to the account it names; one naming none, to the first.",
        )
    ]


def _service_tools(state: ModalState) -> dict[str, Any]:
    """The buttons under a service: "Add another service" (below ``MAX_SERVICES``), "Refresh"."""
    buttons = [(REFRESH_RESOURCES_ACTION, "Refresh resource list")]
    if len(state.added) + 1 < MAX_SERVICES:
        buttons.insert(0, (ADD_SERVICE_ACTION, "Add another service"))
    return {
        "type": "actions",
        "block_id": "service_tools",
        "elements": [
            {"type": "button", "action_id": action, "text": plain(label), "value": action}
            for action, label in buttons
        ],
    }


def _login_role_picker(config: BotConfig, state: ModalState) -> list[dict[str, Any]]:
    """The login role select; none for an account without login roles (request_permission_set:
    each request signs in with its own permission set)."""
    assert state.account is not None
    roles = config.login_roles_for(state.account)
    if not roles:
        return []
    return [
        _input(
            "login_role",
            "Login role you use",
            {
                "type": "static_select",
                "action_id": LOGIN_ROLE_ACTION,
                "options": [option(role, role) for role in roles][:100],
            },
            state,
        )
    ]


def prefilled_modal(
    config: BotConfig,
    state: ModalState,
    *,
    actions: Sequence[str] = (),
    arns: Sequence[str] = (),
    note: str | None = None,
) -> dict[str, Any]:
    """The request modal at ``state`` with actions picked and ARNs typed in already."""
    view = request_modal(config, state)
    for block in view["blocks"]:
        element = block.get("element", {})
        if block.get("block_id") == block_id("actions", state) and actions:
            element["initial_options"] = [option(a, a) for a in actions][:100]
        if block.get("block_id") == block_id("arns", state) and arns:
            element["initial_value"] = "\n".join(arns)
    if note:
        view["blocks"].insert(
            0, {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(note, 3000)}]}
        )
    return view


def preset_note(defaults: PresetDefaults) -> str:
    """What the requester still has to do after choosing a preset."""
    note = f"Preset *{escape(defaults.name)}*: pick the resources"
    if defaults.resource_types:
        note += f" ({', '.join(defaults.resource_types)})"
    if defaults.left_out:
        note += f". Not in this form (another service): {', '.join(defaults.left_out)}"
    return note + "."


def _preset_picker(config: BotConfig) -> list[dict[str, Any]]:
    if not config.presets:
        return []
    choices = [
        option(f"{name} – {preset.description}" if preset.description else name, name)
        for name, preset in config.presets.items()
    ][:100]
    return [
        {
            "type": "actions",
            "block_id": "preset",
            "elements": [
                {
                    "type": "static_select",
                    "action_id": PRESET_SELECT_ACTION,
                    "placeholder": plain("Start from a preset…"),
                    "options": choices,
                }
            ],
        }
    ]


def _added_summary(state: ModalState) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for index, choice in enumerate(state.added):
        count = len(choice.resources) + len(choice.arns)
        text = (
            f"*{escape(choice.service)}*: {', '.join(f'`{escape(a)}`' for a in choice.actions)}"
            f" on {count} resource{'s' if count != 1 else ''}"
        )
        blocks.append(
            {
                "type": "section",
                "block_id": f"added.{index}",
                "text": {"type": "mrkdwn", "text": truncate(text, 3000)},
                "accessory": {
                    "type": "button",
                    "action_id": REMOVE_SERVICE_ACTION,
                    "text": plain("Remove"),
                    "value": str(index),
                },
            }
        )
    return blocks


def _service_inputs(state: ModalState) -> list[dict[str, Any]]:
    return [
        _input(
            "actions",
            f"{state.service} actions",
            {
                "type": "multi_external_select",
                "action_id": ACTIONS_ACTION,
                "min_query_length": 0,
                "placeholder": plain("Type to search actions"),
            },
            state,
        ),
        _input(
            "resources",
            "Resources",
            {
                "type": "multi_external_select",
                "action_id": RESOURCES_ACTION,
                "min_query_length": 0,
                "placeholder": plain("Type to search discovered resources"),
            },
            state,
            optional=True,
        ),
        _input(
            "arns",
            "Or ARNs, one per line",
            {"type": "plain_text_input", "action_id": ARNS_ACTION, "multiline": True},
            state,
            optional=True,
            hint="Use * only for actions that accept no specific resource.",
        ),
    ]


def banner(text: str) -> dict[str, Any]:
    """A sensitive account's warning, above the form or the approval card."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: *{escape(text)}*"}}


def _account_notes(account: AccountConfig, state: ModalState) -> list[dict[str, Any]]:
    """A sensitive account's banner, and the ticket input when the account requires one."""
    blocks = [banner(text) for text in [warning_of(account)] if text]
    if account.ticket_pattern:
        element = {"type": "plain_text_input", "action_id": TICKET_ACTION, "max_length": 64}
        hint = f"Required here; must match {account.ticket_pattern}"
        blocks.append(_input("ticket", "Ticket or change id", element, state, hint=hint[:150]))
    return blocks


def _also_notes(config: BotConfig, state: ModalState) -> list[dict[str, Any]]:
    """The other accounts' banners, and the ticket input when one of them requires a ticket
    and the first account does not (a ticket any account asks for is asked of the request)."""
    assert state.account is not None
    others = {a: config.accounts[a] for a in state.also if a in config.accounts}
    others.pop(state.account, None)
    blocks = [banner(f"{name}: {text}") for name, a in others.items() if (text := warning_of(a))]
    pattern = next((a.ticket_pattern for a in others.values() if a.ticket_pattern), None)
    if pattern and not config.accounts[state.account].ticket_pattern:
        element = {"type": "plain_text_input", "action_id": TICKET_ACTION, "max_length": 64}
        hint = f"Required by one of the accounts; must match {pattern}"
        blocks.append(_input("ticket", "Ticket or change id", element, state, hint=hint[:150]))
    return blocks


def _account_label(name: str, config: BotConfig) -> str:
    return account_label(name, config.accounts[name])


REASON_BLOCK = "decision_reason"
REASON_INPUT = "decision_reason_input"


def reason_modal(callback_id: str, request_id: str, title: str, label: str) -> dict[str, Any]:
    """A small modal asking for a mandatory reason about one request."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title),
        "submit": plain("Confirm"),
        "close": plain("Back"),
        "private_metadata": request_id,
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain(label),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "min_length": 3,
                    "max_length": 500,
                },
            }
        ],
    }


def deny_modal(request_id: str) -> dict[str, Any]:
    return reason_modal(
        DENY_CALLBACK, request_id, "Deny request", "Reason (shown to the requester)"
    )


def break_glass_modal(request_id: str) -> dict[str, Any]:
    return reason_modal(
        BREAK_GLASS_CALLBACK,
        request_id,
        "Break glass",
        "Why can nobody else approve? (announced and audited)",
    )


def extend_modal(request_id: str, durations: Sequence[int]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": EXTEND_CALLBACK,
        "title": plain("Extend access"),
        "submit": plain("Ask"),
        "close": plain("Back"),
        "private_metadata": request_id,
        "blocks": [
            {
                "type": "input",
                "block_id": "extend",
                "label": plain("How much longer?"),
                "element": {
                    "type": "static_select",
                    "action_id": EXTEND_ACTION_SELECT,
                    "options": [option(duration_label(m), str(m)) for m in durations][:100],
                },
            }
        ],
    }


def quoted(text: str, limit: int = 1000) -> str:
    """The requester's words in mrkdwn, every line quoted (``>``) and escaped: a second line
    such as ``*Services*: nothing dangerous`` can never pass for one of the bot's fields."""
    lines = truncate(text.strip(), limit).splitlines() or [""]
    return "\n".join(f">{escape(line)}" for line in lines)


def reason_block(request: AccessRequest) -> dict[str, Any]:
    """The reason in a block of its own, labelled, as plain text (nothing in it formats)."""
    lines = truncate(request.reason.strip(), 1000).splitlines() or [""]
    body = "\n".join(f"> {line}" for line in lines)
    return {
        "type": "section",
        "text": {"type": "plain_text", "text": f"Reason, in the requester's words:\n{body}"},
    }


def routing_blocks(request: AccessRequest) -> list[dict[str, Any]]:
    """The rules on what is asked that applied ("Rule: Write in production: needs 2 approvals
    from @sre"), one context line each; none when no such rule applied."""
    if not request.routing_rules:
        return []
    text = "\n".join(f"Rule: {escape(line)}" for line in request.routing_rules)
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}]


def services_blocks(request: AccessRequest) -> list[dict[str, Any]]:
    """Everything the request grants: every action and resource when they fit one text,
    otherwise a summary per service (counts per access level, every wildcard pattern as the
    requester wrote it). Never cut short: ``listing.presentation_problem`` refuses at submit
    what could not be shown; "Show full request" opens the complete list."""
    full = _services_text(request)
    if len(full) <= listing.TEXT_CHARS:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": full}}]
    blocks: list[dict[str, Any]] = [
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Too many actions and resources to list here: a summary of each "
                    "service follows, and *Show full request* lists every one.",
                }
            ],
        }
    ]
    for access in request.services:
        text = listing.summary(access, request.access_levels.get(access.service))
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": text}})
    return blocks


def full_request_modal(request: AccessRequest) -> dict[str, Any]:
    """Every action and every resource of a request, in as many sections as it takes."""
    pages = listing.sections(listing.full_lines(request.services))
    count = sum(len(s.actions) + len(s.resources) for s in request.services)
    blocks: list[dict[str, Any]] = [
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Request `{request.id}` for {escape(request.account_name)} "
                    f"({request.account_id}) as {escape(request.login_role)}: {count} actions "
                    "and resources, all of them below.",
                }
            ],
        },
        *routing_blocks(request),
        *({"type": "section", "text": {"type": "plain_text", "text": page}} for page in pages),
    ]
    return {
        "type": "modal",
        "callback_id": FULL_REQUEST_CALLBACK,
        "title": plain("Full request"),
        "close": plain("Close"),
        "private_metadata": request.id,
        "blocks": blocks,
    }


def is_session_grant(request: AccessRequest) -> bool:
    recorded = request.recorded_account.access_mode == AccessMode.SESSION_CREDENTIALS.value
    return recorded or (request.policy_name or "").startswith("session:")


def session_revoke_note(request: AccessRequest) -> str:
    """What revoking a session_credentials grant really does (shown wherever it is offered)."""
    until = f" until {iso(request.expires_at)}" if request.expires_at else ""
    if not request.recorded_account.revoke_cuts_off_session:
        return (
            "Revoking ends this request, but AWS cannot end a sign-in session it has issued: "
            f"the session already issued stays usable{until}."
        )
    return (
        "Revoking this sign-in session: AWS cannot end a session it has issued, so the bot "
        f"adds a deny for this session on the broker role{until}, when the session ends "
        "anyway; every call with its credentials is then refused."
    )


def session_revoked_text(request: AccessRequest) -> str:
    """What became of the issued session of a revoked session_credentials grant."""
    until = f" until {iso(request.expires_at)}" if request.expires_at else ""
    if request.session_cut_off is False:
        return (
            "The session already issued was not cut off (AWS cannot end one, and this account "
            f"does not let the bot write a deny on the broker role): it stays usable{until}."
        )
    return (
        f"A deny on the broker role refuses every call of the session already issued{until}, "
        "when it ends anyway."
    )


def _session_note(request: AccessRequest) -> list[dict[str, Any]]:
    if request.status is not Status.ACTIVE or not is_session_grant(request):
        return []
    text = session_revoke_note(request)
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


def extension_message(request: AccessRequest) -> dict[str, Any]:
    """The approvers' DM asking to extend an active grant."""
    minutes = request.pending_extension
    until = f" (now until {iso(request.expires_at)})" if request.expires_at else ""
    text = (
        f":hourglass: <@{request.requester_id}> asks to extend request `{request.id}` in "
        f"{escape(request.account_name)} by {duration_label(minutes)}{until}."
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        *services_blocks(request),
        _buttons(
            request.id,
            [
                (APPROVE_EXTENSION_ACTION, "Approve extension", "primary"),
                (DENY_EXTENSION_ACTION, "Refuse", "danger"),
                SHOW_FULL_BUTTON,
            ],
        ),
    ]
    return {"text": text, "blocks": blocks}


def break_glass_text(request: AccessRequest, approver: str, reason: str) -> str:
    return (
        f":rotating_light: *Break-glass*: <@{approver}> approved their own request "
        f"`{request.id}` for {escape(request.account_name)} ({request.account_id}). "
        f"Reason:\n{quoted(reason)}"
    )


# -- messages about a request --------------------------------------------------------------


def _request_fields(request: AccessRequest) -> list[dict[str, Any]]:
    fields = [
        f"*Requester*\n<@{request.requester_id}>",
        f"*Account*\n{escape(request.account_name)} ({request.account_id})",
        f"*Login role*\n{escape(request.login_role)}",
        f"*Duration*\n{duration_label(request.duration_minutes)}",
        *([f"*Ticket*\n{escape(request.ticket)}"] if request.ticket else []),
    ]
    return [{"type": "mrkdwn", "text": truncate(f, 2000)} for f in fields]


def _services_text(request: AccessRequest) -> str:
    """Every action and resource in mrkdwn (possibly over Slack's 3,000: see services_blocks)."""
    if request.target:
        what = "group" if request.group else "permission set"
        return (
            f"*IAM Identity Center {what}* `{escape(request.target)}` for the window "
            "(sessions already opened outlast a revocation)"
        )
    lines = []
    for access in request.services:
        lines.append(f"*{escape(access.service)}*")
        lines.append("• actions: " + ", ".join(f"`{escape(a)}`" for a in access.actions))
        lines.append("• resources: " + ", ".join(f"`{escape(r)}`" for r in access.resources))
    return "\n".join(lines)


SHOW_FULL_BUTTON: tuple[str, str, str | None] = (SHOW_FULL_ACTION, "Show full request", None)
USAGE_BUTTON: tuple[str, str, str | None] = (USAGE_ACTION, "What was used", None)


def shows_usage(request: AccessRequest) -> bool:
    """Whether the request's messages offer "What was used": a grant of actions that ended."""
    ended = request.status in (Status.EXPIRED, Status.REVOKED)
    return ended and bool(request.actions) and request.starts_at is not None


def _usage_buttons(request: AccessRequest) -> list[dict[str, Any]]:
    return [_buttons(request.id, [USAGE_BUTTON, SHOW_FULL_BUTTON])] if shows_usage(request) else []


def status_line(request: AccessRequest) -> str:
    emoji = STATUS_EMOJI[request.status]
    by = (
        f" by <@{request.decided_by}>"
        if request.decided_by and request.decided_by.startswith(("U", "W"))
        else ""
    )
    if request.status is Status.PENDING:
        approvals = (
            f" ({len(request.approvals)} of {request.approvals_required} approvals)"
            if request.approvals_required > 1
            else ""
        )
        return f"{emoji} Waiting for approval{approvals}"
    if request.status is Status.ACTIVE and request.expires_at:
        return f"{emoji} Active until {iso(request.expires_at)}{' – approved' + by if by else ''}"
    if scheduled := schedule_views.scheduled_status(request, by):
        return scheduled
    if request.status is Status.APPROVED:
        return f"{emoji} Approved{by}; writing the policy…"
    if request.status is Status.FAILED:
        return f"{emoji} Failed: {escape(request.failure_reason or 'unknown error')}"
    when = f" at {iso(request.decided_at)}" if request.decided_at else ""
    word = request.status.value.replace("_", " ").capitalize()
    if request.status in (Status.EXPIRED, Status.REVOKED):
        return f"{emoji} {word}"
    reason = (
        f": {escape(request.decision_reason)}"
        if request.status is Status.DENIED and request.decision_reason
        else ""
    )
    return f"{emoji} {word}{by}{when}{reason}"


def _buttons(request_id: str, buttons: Sequence[tuple[str, str, str | None]]) -> dict[str, Any]:
    elements = []
    for action_id, label, style in buttons:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": plain(label),
            "value": request_id,
        }
        if style:
            button["style"] = style
        elements.append(button)
    return {"type": "actions", "block_id": f"request.{request_id}", "elements": elements}


def approval_message(request: AccessRequest, *, with_buttons: bool = True) -> dict[str, Any]:
    """The approver's DM (and the audit channel's post): details, status and buttons."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Access request* `{request.id}`"},
            "fields": _request_fields(request),
        },
        reason_block(request),
        *services_blocks(request),
        *schedule_views.window_blocks(request),
        *routing_blocks(request),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": status_line(request)}]},
    ]
    if request.warning:
        blocks.insert(0, banner(request.warning))
    if with_buttons and request.status is Status.PENDING:
        blocks.append(
            _buttons(
                request.id,
                [
                    (APPROVE_ACTION, "Approve", "primary"),
                    (DENY_ACTION, "Deny", "danger"),
                    SHOW_FULL_BUTTON,
                ],
            )
        )
    if with_buttons and request.status is Status.ACTIVE:
        blocks.extend(_session_note(request))
        blocks.append(
            _buttons(request.id, [(REVOKE_ACTION, "Revoke now", "danger"), SHOW_FULL_BUTTON])
        )
    if with_buttons and is_scheduled(request):
        blocks.append(
            _buttons(request.id, [(REVOKE_ACTION, "Revoke now", "danger"), SHOW_FULL_BUTTON])
        )
    if with_buttons:
        blocks.extend(_usage_buttons(request))
    text = f"Access request {request.id} from <@{request.requester_id}>: {request.status.value}"
    return {"text": text, "blocks": blocks}


def requester_message(request: AccessRequest, break_glass: bool = False) -> dict[str, Any]:
    """The requester's DM about their request, kept up to date."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": (
                    f"*Your access request* `{request.id}` for *{escape(request.account_name)}*"
                    f" as {escape(request.login_role)}"
                ),
            },
        },
        reason_block(request),
        *services_blocks(request),
        *schedule_views.window_blocks(request),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": status_line(request)}]},
    ]
    if is_scheduled(request):
        blocks.append(
            _buttons(request.id, [(CANCEL_ACTION, "Cancel request", None), SHOW_FULL_BUTTON])
        )
    if request.status is Status.PENDING:
        buttons: list[tuple[str, str, str | None]] = [(CANCEL_ACTION, "Cancel request", None)]
        if break_glass:
            buttons.append((BREAK_GLASS_ACTION, "Break glass: approve myself", "danger"))
        blocks.append(_buttons(request.id, [*buttons, SHOW_FULL_BUTTON]))
    if request.status is Status.ACTIVE:
        blocks.extend(_session_note(request))
        blocks.append(
            _buttons(
                request.id,
                [
                    (REVOKE_ACTION, "I'm done – revoke", None),
                    (EXTEND_ACTION, "Extend…", None),
                    SHOW_FULL_BUTTON,
                ],
            )
        )
    blocks.extend(_usage_buttons(request))
    return {"text": f"Your access request {request.id}: {request.status.value}", "blocks": blocks}


def update_text(request: AccessRequest, event: EventType | None = None) -> str:
    """The one-line DM a requester gets when their request changes."""
    if event is EventType.EXTENDED and request.expires_at:
        return (
            f":large_green_circle: Access to {escape(request.account_name)} for request "
            f"`{request.id}` now lasts until {iso(request.expires_at)}."
        )
    if event is EventType.REVOKED and ended_before_start(request):
        return (
            f":no_entry: Request `{request.id}` is revoked before its start: nothing was granted."
        )
    if event is EventType.REVOKED and is_session_grant(request):
        return f":no_entry: Request `{request.id}` is revoked. {session_revoked_text(request)}"
    if event is EventType.REVOKED and (note := revoked_session_note(request)):
        return f":no_entry: Request `{request.id}` is revoked. {note}"
    if request.status is Status.ACTIVE and request.expires_at:
        return (
            f":large_green_circle: Access granted for request `{request.id}` in "
            f"{escape(request.account_name)} until {iso(request.expires_at)}"
            + (
                "; your sign-in link is in the message above."
                if (request.policy_name or "").startswith("session:")
                else " (IAM may take up to 2 minutes to apply it)."
            )
        )
    return f"Request `{request.id}`: {status_line(request)}"


def reminder_text(request: AccessRequest, channel: str | None = None) -> str:
    """The nudge to an approver; ``channel``: where the card is, for one who got no DM."""
    where = f"the card in <#{channel}>" if channel else "the DM above"
    return (
        f":bell: Reminder: access request `{request.id}` from <@{request.requester_id}> for "
        f"{escape(request.account_name)} is still waiting for your decision (see {where})."
    )


def help_text(command: str, subcommands: Sequence[str]) -> str:
    """What ``/request help`` (or any unknown text) answers."""
    lines = [
        f"*{command}* – ask for time-limited AWS access.",
        f"• `{command}` opens the request form",
        *(f"• `{command} {name}`" for name in subcommands if name != "help"),
        f"• `{command} help` shows this help",
        "Approvers get a DM with Approve / Deny; access ends by itself when the time is up.",
    ]
    return "\n".join(lines)


#: The steps of a request that the approval channel's card gets a threaded reply for.
THREAD_EVENTS = frozenset(
    {
        EventType.APPROVAL_ADDED,
        EventType.APPROVED,
        EventType.AUTO_APPROVED,
        EventType.DENIED,
        EventType.CANCELLED,
        EventType.TIMED_OUT,
        EventType.GRANTED,
        EventType.GRANT_FAILED,
        EventType.EXPIRED,
        EventType.REVOKED,
        EventType.EXTENDED,
    }
)


def thread_text(request: AccessRequest, event: EventType, actor: str) -> str:
    """The threaded reply under the approval channel's card for one step of the request."""
    by = f" by <@{actor}>" if actor.startswith(("U", "W")) else ""
    if event is EventType.APPROVAL_ADDED:
        return (
            f":heavy_plus_sign: Approval added{by}: {len(request.approvals)} of "
            f"{request.approvals_required} approvals."
        )
    if event in (EventType.APPROVED, EventType.AUTO_APPROVED):
        return f":white_check_mark: Approved{by}; access is being granted."
    if event is EventType.REVOKED:
        return f"{status_line(request)}{by}"
    return status_line(request)
