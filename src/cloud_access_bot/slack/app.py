"""Bolt wiring: thin listeners that ack first, then call the service.

Every listener acks before doing any I/O (Slack's 3 s deadline; a late ack is lost), runs its
work inside the in-flight tracker (so a graceful shutdown can wait for it), and turns any
failure into a message to the person who acted — never a silent log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.presets import PresetDefaults
from cloud_access_bot.ports import StoreUnavailable
from cloud_access_bot.service import AccessService, Draft
from cloud_access_bot.slack import views
from cloud_access_bot.slack.views import ModalState, ServiceChoice

log = logging.getLogger(__name__)

#: How long a resource suggestion may wait for discovery before answering "still loading".
SUGGESTION_BUDGET_S = 2.0


class Suggestions(Protocol):
    """What the modal's external selects offer, and how their values map back."""

    def services(self, query: str) -> list[dict[str, Any]]: ...

    def actions(self, service: str, query: str) -> list[dict[str, Any]]:
        """Option groups for the actions select."""

    def decode_actions(self, values: list[str]) -> list[str]: ...

    async def resources(self, account: str, service: str, query: str) -> list[dict[str, Any]]: ...

    async def decode_resources(self, account: str, service: str, values: list[str]) -> list[str]:
        """ARNs for the selected options; raises ValueError naming an option no longer known."""

    def check_arns(self, account: str, service: str, arns: list[str]) -> list[str]:
        """One message per invalid free-text ARN (empty when all are fine)."""

    def warm(self, account: str, service: str, *, refresh: bool = False) -> None:
        """Start discovery early so resource suggestions answer from the cache (``refresh``:
        list again now instead of trusting the cache)."""

    def preset(self, name: str) -> PresetDefaults | None:
        """What a configured preset fills in (None: unknown or naming no known action)."""


#: ``/request <name> args…``: called with (user id, args, payload) after the ack; answers with
#: mrkdwn text or a message ``{"text": …, "blocks": […]}``, shown only to the person who typed it.
Subcommand = Callable[[str, list[str], dict[str, Any]], Awaitable[str | dict[str, Any]]]


class Inflight:
    """Counts listener work in progress so shutdown can wait for it."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def track(self) -> Any:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def user_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id", ""))
    return str(body.get("user_id", ""))


def _value(values: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    found = values.get(block, {}).get(action)
    return found if isinstance(found, dict) else {}


def current_choice(view: dict[str, Any], state: ModalState) -> ServiceChoice | None:
    """The service being filled in now, as the selects sent it (None if no action is picked)."""
    if not state.service:
        return None
    values = view.get("state", {}).get("values", {})
    picked = _value(values, views.block_id("actions", state), views.ACTIONS_ACTION)
    actions = [str(o.get("value")) for o in picked.get("selected_options") or []]
    chosen = _value(values, views.block_id("resources", state), views.RESOURCES_ACTION)
    resources = [str(o.get("value")) for o in chosen.get("selected_options") or []]
    typed = _value(values, views.block_id("arns", state), views.ARNS_ACTION).get("value") or ""
    arns = [line.strip() for line in str(typed).splitlines() if line.strip()]
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
        option = _value(values, "duration", views.DURATION_ACTION).get("selected_option") or {}
        duration = int(option.get("value", ""))
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
    role = _value(values, "login_role", views.LOGIN_ROLE_ACTION).get("selected_option") or {}
    draft = Draft(
        requester_id=user_id,
        account_name=state.account,
        login_role=str(role.get("value", "")),
        reason=str(_value(values, "reason", views.REASON_ACTION).get("value") or ""),
        duration_minutes=duration,
        services=tuple(services),
        submission_id=str(view.get("id") or "") or None,
        discovered=tuple(discovered),
    )
    return draft, errors


def build_app(
    *,
    client: AsyncWebClient,
    service: AccessService,
    suggestions: Suggestions,
    config: Callable[[], BotConfig],
    inflight: Inflight,
    subcommands: Mapping[str, Subcommand] | None = None,
) -> AsyncApp:
    """The Bolt app with the request listeners; ``subcommands`` extend ``/request <name>``."""
    # Unmatched or malformed payloads become errors, which the handler below turns into a plain
    # ack: Bolt would otherwise send no ack at all and Slack would show the person an error.
    # process_before_response: AckingSocketModeHandler answers as soon as ack() is called.
    app = AsyncApp(
        client=client, raise_error_for_unhandled_request=True, process_before_response=True
    )
    command = f"/{config().request_command}"
    extra_commands = dict(subcommands or {})

    async def guarded(user_id: str, work: Awaitable[Any]) -> None:
        """Run a listener's work; whatever fails, the person who acted is told."""
        async with inflight.track():
            try:
                await work
            except StoreUnavailable:
                await _tell(
                    client,
                    user_id,
                    "I could not reach my database, so nothing was "
                    "changed. Please try again in a minute.",
                )
            except Exception:
                log.exception("listener failed")
                await _tell(
                    client,
                    user_id,
                    "Something went wrong on my side and nothing was "
                    "changed. Please try again; if it keeps failing, tell the bot's admins.",
                )

    async def open_view(body: dict[str, Any], view: dict[str, Any]) -> None:
        """Open a modal; a payload without trigger_id fails here, inside ``guarded``."""
        await client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)

    @app.command(command)
    async def on_command(ack: Any, body: dict[str, Any]) -> None:
        words = str(body.get("text") or "").split()
        name = words[0].lower() if words else ""
        if name in extra_commands:
            await ack()
            await guarded(user_of(body), _answer(client, body, extra_commands[name], words[1:]))
            return
        if name not in ("", "request"):
            await ack(text=views.help_text(command, sorted(extra_commands)))
            return
        await ack()
        view = views.request_modal(config(), ModalState())
        await guarded(user_of(body), open_view(body, view))

    async def update_modal(
        body: dict[str, Any], state: ModalState, shown: dict[str, Any] | None = None
    ) -> None:
        """Show ``shown`` (default: the modal at ``state``) in place of the clicked view."""
        view = body.get("view") or {}
        try:
            await client.views_update(
                view_id=view["id"],
                hash=view.get("hash"),
                view=shown or views.request_modal(config(), state),
            )
        except SlackApiError as error:
            if error.response.get("error") != "hash_conflict":
                raise

    @app.action(views.ACCOUNT_ACTION)
    async def on_account(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
        state = ModalState(account=selected.get("value"))
        await guarded(user_of(body), update_modal(body, state))

    @app.action(views.SERVICE_ACTION)
    async def on_service(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        previous = ModalState.from_metadata((body.get("view") or {}).get("private_metadata"))
        selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
        state = replace(previous, service=selected.get("value"))
        if state.account and state.service:
            suggestions.warm(state.account, state.service)
        await guarded(user_of(body), update_modal(body, state))

    @app.options(views.SERVICE_ACTION)
    async def on_service_options(ack: Any, body: dict[str, Any]) -> None:
        await ack(options=suggestions.services(str(body.get("value") or "")))

    @app.options(views.ACTIONS_ACTION)
    async def on_action_options(ack: Any, body: dict[str, Any]) -> None:
        state = ModalState.from_metadata((body.get("view") or {}).get("private_metadata"))
        query = str(body.get("value") or "")
        await ack(option_groups=suggestions.actions(state.service, query) if state.service else [])

    @app.options(views.RESOURCES_ACTION)
    async def on_resource_options(ack: Any, body: dict[str, Any]) -> None:
        state = ModalState.from_metadata((body.get("view") or {}).get("private_metadata"))
        if not (state.account and state.service):
            await ack(options=[])
            return
        lookup = suggestions.resources(state.account, state.service, str(body.get("value") or ""))
        try:
            options = await asyncio.wait_for(lookup, SUGGESTION_BUDGET_S)
        except TimeoutError:
            options = [views.option("Still discovering resources… type again", "loading")]
        await ack(options=options)

    @app.view(views.REQUEST_CALLBACK)
    async def on_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = user_of(body)
        state = ModalState.from_metadata(view.get("private_metadata"))
        draft, errors = await read_draft(view, state, user_id, suggestions)
        if draft is not None:
            errors = {**service.validate(draft), **errors}
        if errors:
            await ack(response_action="errors", errors=_error_blocks(errors, state, view))
            return
        await ack()
        assert draft is not None
        await guarded(user_id, _submit(client, service, draft))

    @app.action(views.PRESET_SELECT_ACTION)
    async def on_preset(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = body.get("view") or {}
        state = ModalState.from_metadata(view.get("private_metadata"))
        selected = (body.get("actions") or [{}])[0].get("selected_option") or {}
        defaults = suggestions.preset(str(selected.get("value", "")))
        if defaults is None or not state.account:
            return
        chosen = replace(state, service=defaults.service)
        suggestions.warm(state.account, defaults.service)
        updated = views.prefilled_modal(
            config(), chosen, actions=defaults.actions, note=views.preset_note(defaults)
        )
        await guarded(user_of(body), update_modal(body, chosen, updated))

    @app.action(views.REFRESH_RESOURCES_ACTION)
    async def on_refresh_resources(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        state = ModalState.from_metadata((body.get("view") or {}).get("private_metadata"))
        if state.account and state.service:
            suggestions.warm(state.account, state.service, refresh=True)

    @app.action(views.ADD_SERVICE_ACTION)
    async def on_add_service(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = body.get("view") or {}
        state = ModalState.from_metadata(view.get("private_metadata"))
        current = current_choice(view, state)
        if current is None:
            note = "Pick at least one action for this service before adding another one."
            await guarded(user_of(body), _tell(client, user_of(body), note))
            return
        grown = ModalState(state.account, None, (*state.added, current))
        if len(grown.to_metadata()) > views.MAX_METADATA:
            note = "This request is as large as one form can hold: submit it, then ask again."
            await guarded(user_of(body), _tell(client, user_of(body), note))
            return
        await guarded(user_of(body), update_modal(body, grown))

    @app.action(views.REMOVE_SERVICE_ACTION)
    async def on_remove_service(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        state = ModalState.from_metadata((body.get("view") or {}).get("private_metadata"))
        index = _button_value(body)
        kept = tuple(c for i, c in enumerate(state.added) if str(i) != index)
        await guarded(user_of(body), update_modal(body, replace(state, added=kept)))

    @app.action(views.APPROVE_ACTION)
    async def on_approve(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await guarded(user_of(body), service.approve(_button_value(body), user_of(body)))

    @app.action(views.DENY_ACTION)
    async def on_deny(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = views.deny_modal(_button_value(body)[:64])
        await guarded(user_of(body), open_view(body, view))

    def reason_of(view: dict[str, Any]) -> str:
        values = view.get("state", {}).get("values", {})
        return str(_value(values, views.REASON_BLOCK, views.REASON_INPUT).get("value") or "")

    @app.view(views.DENY_CALLBACK)
    async def on_deny_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        request_id = str(view.get("private_metadata") or "")
        await guarded(user_of(body), service.deny(request_id, user_of(body), reason_of(view)))

    @app.action(views.BREAK_GLASS_ACTION)
    async def on_break_glass(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = views.break_glass_modal(_button_value(body)[:64])
        await guarded(user_of(body), open_view(body, view))

    @app.view(views.BREAK_GLASS_CALLBACK)
    async def on_break_glass_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        request_id = str(view.get("private_metadata") or "")
        work = service.approve(request_id, user_of(body), break_glass_reason=reason_of(view))
        await guarded(user_of(body), work)

    @app.action(views.EXTEND_ACTION)
    async def on_extend(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        view = views.extend_modal(_button_value(body)[:64], config().durations_minutes)
        await guarded(user_of(body), open_view(body, view))

    @app.view(views.EXTEND_CALLBACK)
    async def on_extend_submit(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        chosen = _value(values, "extend", views.EXTEND_ACTION_SELECT).get("selected_option") or {}
        try:
            minutes = int(chosen.get("value", ""))
        except ValueError:
            await ack(response_action="errors", errors={"extend": "Pick a duration."})
            return
        await ack()
        request_id = str(view.get("private_metadata") or "")
        await guarded(user_of(body), service.ask_extension(request_id, user_of(body), minutes))

    @app.action(views.APPROVE_EXTENSION_ACTION)
    async def on_approve_extension(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        work = service.decide_extension(_button_value(body), user_of(body), approve=True)
        await guarded(user_of(body), work)

    @app.action(views.DENY_EXTENSION_ACTION)
    async def on_deny_extension(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        work = service.decide_extension(_button_value(body), user_of(body), approve=False)
        await guarded(user_of(body), work)

    @app.action(views.CANCEL_ACTION)
    async def on_cancel(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await guarded(user_of(body), service.cancel(_button_value(body), user_of(body)))

    @app.action(views.REVOKE_ACTION)
    async def on_revoke(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await guarded(user_of(body), service.revoke(_button_value(body), user_of(body)))

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        if isinstance(error, BoltUnhandledRequestError):
            log.info("acked a payload no listener handles (type %s)", body.get("type"))
        else:
            log.error("listener failed before finishing: %r", error)
        return BoltResponse(status=200, body="")

    return app


def _button_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    first = actions[0] if isinstance(actions[0], dict) else {}
    return str(first.get("value") or "")


def _error_blocks(
    errors: dict[str, str], state: ModalState, view: dict[str, Any]
) -> dict[str, str]:
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


async def _answer(
    client: AsyncWebClient, body: dict[str, Any], handler: Subcommand, args: list[str]
) -> None:
    """Run a subcommand and show its answer only to the person who typed it."""
    answer = await handler(user_of(body), args, body)
    message = {"text": answer} if isinstance(answer, str) else answer
    response_url = str(body.get("response_url") or "")
    if response_url:
        sent = await AsyncWebhookClient(response_url).send_dict(
            {**message, "response_type": "ephemeral"}
        )
        if sent.status_code == 200:
            return
    await _tell(client, user_of(body), str(message.get("text", "")))


async def _submit(client: AsyncWebClient, service: AccessService, draft: Draft) -> None:
    result = await service.submit(draft)
    if result.errors:
        await _tell(
            client,
            draft.requester_id,
            "Your request was not stored: " + " ".join(result.errors.values()),
        )


async def _tell(client: AsyncWebClient, user_id: str, text: str) -> None:
    if not user_id:
        return
    try:
        channel = await client.conversations_open(users=user_id)
        await client.chat_postMessage(channel=channel["channel"]["id"], text=text)
    except SlackApiError as error:
        log.warning("cannot tell %s: %s", user_id, error.response.get("error"))
