"""Reading the request modal's submitted state: the draft it describes, and where its errors go."""

from __future__ import annotations

from typing import Any

from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.service import Draft
from cloud_access_bot.slack import schedule_views, views
from cloud_access_bot.slack.listeners.shared import Suggestions, input_value
from cloud_access_bot.slack.views import ModalState, ServiceChoice


def current_choice(view: dict[str, Any], state: ModalState) -> ServiceChoice | None:
    """The service being filled in now, as the selects sent it (None if no action is picked)."""
    if not state.service:
        return None
    values = view.get("state", {}).get("values", {})
    picked = input_value(values, views.block_id("actions", state), views.ACTIONS_ACTION)
    actions = [str(o.get("value")) for o in picked.get("selected_options") or []]
    chosen = input_value(values, views.block_id("resources", state), views.RESOURCES_ACTION)
    resources = [str(o.get("value")) for o in chosen.get("selected_options") or []]
    typed = input_value(values, views.block_id("arns", state), views.ARNS_ACTION).get("value")
    arns = [line.strip() for line in str(typed or "").splitlines() if line.strip()]
    if not actions:
        return None
    return ServiceChoice(state.service, tuple(actions), tuple(resources), tuple(arns))


async def read_draft(
    view: dict[str, Any], state: ModalState, user_id: str, suggestions: Suggestions
) -> tuple[Draft | None, dict[str, str]]:
    """The submitted form as a Draft with ARNs resolved, or the problems keyed by field."""
    values = view.get("state", {}).get("values", {})
    if not state.account:
        return None, {"account": "Pick an account."}
    current = current_choice(view, state)
    choices = [*state.added, *([current] if current else [])]
    if not choices:
        field = "actions" if state.service else "service"
        return None, {field: "Pick a service and at least one action."}
    errors: dict[str, str] = {}
    try:
        option = input_value(values, "duration", views.DURATION_ACTION).get("selected_option")
        duration = int((option or {}).get("value", ""))
    except ValueError:
        duration = 0
        errors["duration"] = "Pick a duration."
    services: list[ServiceAccess] = []
    discovered: list[str] = []
    for choice in choices:
        named = f"{choice.service}: " if len(choices) > 1 else ""
        problems = suggestions.check_arns(state.account, choice.service, list(choice.arns))
        if problems:
            errors["arns"] = (named + " ".join(problems))[:1900]
        try:
            found = await suggestions.decode_resources(
                state.account, choice.service, list(choice.resources)
            )
        except ValueError as problem:
            errors["resources"] = named + str(problem)
            found = []
        discovered.extend(found)
        services.append(
            ServiceAccess(
                choice.service,
                tuple(suggestions.decode_actions(list(choice.actions))),
                tuple(dict.fromkeys((*found, *choice.arns))),
            )
        )
    role = input_value(values, "login_role", views.LOGIN_ROLE_ACTION).get("selected_option") or {}
    start, unreadable = schedule_views.read_start(values)
    if unreadable:
        errors["start"] = unreadable
    draft = Draft(
        requester_id=user_id,
        account_name=state.account,
        login_role=str(role.get("value", "")),
        reason=str(input_value(values, "reason", views.REASON_ACTION).get("value") or ""),
        duration_minutes=duration,
        services=tuple(services),
        submission_id=str(view.get("id") or "") or None,
        ticket=str(input_value(values, "ticket", views.TICKET_ACTION).get("value") or ""),
        discovered=tuple(discovered),
        scheduled_start=start,
    )
    return draft, errors


def error_blocks(errors: dict[str, str], state: ModalState, view: dict[str, Any]) -> dict[str, str]:
    """Slack accepts errors only on input blocks present in the view: map fields onto them."""
    present = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    fallback = next(
        (
            views.block_id(f, state)
            for f in ("actions", "service", "account")
            if views.block_id(f, state) in present
        ),
        "account",
    )
    mapped: dict[str, str] = {}
    for field, message in errors.items():
        target = views.block_id(field, state)
        key = target if target in present else fallback
        mapped[key] = (mapped[key] + " " + message if key in mapped else message)[:2000]
    return mapped


def reason_of(view: dict[str, Any]) -> str:
    """The reason typed into a deny or break-glass modal."""
    values = view.get("state", {}).get("values", {})
    return str(input_value(values, views.REASON_BLOCK, views.REASON_INPUT).get("value") or "")
