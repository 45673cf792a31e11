"""What a person does in Slack, as the emulator sends it: payload builders and view handles.

The builders are pure: they produce the JSON Slack puts in an envelope for a slash command, a
click, a select, a submission, an options query or an App Home visit. :class:`ViewHandle` is a
person's grip on an open modal or Home tab: it edits the input state the way the Slack client
does and sends the envelopes through the emulator, returning what the app answered in its ack.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cloud_access_bot_sandbox.slack_blocks import (
    JSON,
    copy_json,
    dispatches,
    flatten_options,
    flatten_text,
    input_block_ids,
    interactive_elements,
    static_options,
    validate_options_payload,
    value_key,
)
from cloud_access_bot_sandbox.slack_workspace import ApiError, Message, OpenView, Workspace

if TYPE_CHECKING:
    from cloud_access_bot_sandbox.slack_emulator import SlackEmulator


def user_ref(workspace: Workspace, user_id: str) -> JSON:
    user = workspace.users.get(user_id)
    name = user.name if user else user_id
    return {"id": user_id, "username": name, "name": name, "team_id": workspace.team_id}


def _base(workspace: Workspace, kind: str, user_id: str) -> JSON:
    return {
        "type": kind,
        "user": user_ref(workspace, user_id),
        "api_app_id": workspace.app_id,
        "token": "emulator-verification-token",
        "team": {"id": workspace.team_id, "domain": "emulator"},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def slash_command_payload(
    workspace: Workspace,
    user_id: str,
    command: str,
    text: str,
    *,
    channel_id: str,
    trigger_id: str,
    response_url: str,
) -> JSON:
    user = workspace.users.get(user_id)
    return {
        "token": "emulator-verification-token",
        "team_id": workspace.team_id,
        "team_domain": "emulator",
        "channel_id": channel_id,
        "channel_name": "directmessage",
        "user_id": user_id,
        "user_name": user.name if user else user_id,
        "command": command,
        "text": text,
        "api_app_id": workspace.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def action_json(block: JSON, element: JSON, state: JSON | None = None, value: Any = None) -> JSON:
    """One entry of block_actions ``actions``: the element's ids plus its new value."""
    action: JSON = {
        "type": element["type"],
        "action_id": element["action_id"],
        "block_id": block["block_id"],
        "action_ts": f"{time.time():.6f}",
    }
    if element["type"] == "button":
        action["value"] = value if value is not None else element.get("value")
        action["text"] = copy_json(element.get("text"))
    elif state is not None:
        action.update({k: copy_json(v) for k, v in state.items() if k != "type"})
    return action


def view_action_payload(
    workspace: Workspace, view: OpenView, action: JSON, trigger_id: str
) -> JSON:
    return {
        **_base(workspace, "block_actions", view.user_id),
        "container": {"type": "view", "view_id": view.id},
        "trigger_id": trigger_id,
        "view": workspace.view_json(view),
        "actions": [action],
    }


def _channel_name(workspace: Workspace, channel_id: str) -> str:
    """What block_actions name the channel: its name, or "directmessage" for a DM."""
    channel = workspace.channels.get(channel_id)
    return channel.name if channel else "directmessage"


def message_action_payload(
    workspace: Workspace,
    user_id: str,
    message: Message,
    action: JSON,
    *,
    trigger_id: str,
    response_url: str,
) -> JSON:
    return {
        **_base(workspace, "block_actions", user_id),
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "channel": {"id": message.channel, "name": _channel_name(workspace, message.channel)},
        "message": message.to_api(),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def view_submission_payload(workspace: Workspace, view: OpenView, trigger_id: str) -> JSON:
    return {
        **_base(workspace, "view_submission", view.user_id),
        "trigger_id": trigger_id,
        "view": workspace.view_json(view),
        "response_urls": [],
    }


def view_closed_payload(workspace: Workspace, view: OpenView) -> JSON:
    return {
        **_base(workspace, "view_closed", view.user_id),
        "view": workspace.view_json(view),
        "is_cleared": False,
    }


def block_suggestion_payload(
    workspace: Workspace, view: OpenView, block_id: str, action_id: str, query: str
) -> JSON:
    return {
        **_base(workspace, "block_suggestion", view.user_id),
        "container": {"type": "view", "view_id": view.id},
        "action_id": action_id,
        "block_id": block_id,
        "value": query,
        "view": workspace.view_json(view),
    }


def app_home_opened_payload(workspace: Workspace, user_id: str, event_id: str) -> JSON:
    event: JSON = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": workspace.dm_channel(user_id),
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    if user_id in workspace.home:
        event["view"] = workspace.view_json(workspace.views[workspace.home[user_id]])
    return {
        "token": "emulator-verification-token",
        "team_id": workspace.team_id,
        "api_app_id": workspace.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": workspace.team_id,
                "user_id": workspace.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }


def find_element(
    blocks: list[JSON], action_id: str, block_id: str | None = None
) -> tuple[JSON, JSON]:
    """The (block, element) with ``action_id`` (and ``block_id`` if given); LookupError if none."""
    for block, element in interactive_elements(blocks):
        if element.get("action_id") == action_id and block_id in (None, block["block_id"]):
            return block, element
    known = sorted(str(e.get("action_id")) for _, e in interactive_elements(blocks))
    raise LookupError(f"no element with action_id {action_id!r} (have {known})")


class ViewHandle:
    """A person's grip on an open modal or Home tab; always reads the live view.

    Setting inputs changes ``state.values`` as the Slack client does; elements that dispatch
    (selects in actions/section blocks, inputs in blocks with ``dispatch_action``, buttons) also
    send block_actions and return the ack payload ({} for a plain ack), others return None.
    """

    def __init__(self, emulator: SlackEmulator, view_id: str) -> None:
        self._emulator = emulator
        self.id = view_id
        self._seen_hash = self.view.hash
        self._suggested: dict[str, list[JSON]] = {}

    def __repr__(self) -> str:
        return f"ViewHandle({self.id}, callback_id={self.callback_id!r}, open={self.is_open})"

    @property
    def view(self) -> OpenView:
        return self._emulator.workspace.views[self.id]

    @property
    def user_id(self) -> str:
        return self.view.user_id

    @property
    def hash(self) -> str:
        return self.view.hash

    @property
    def callback_id(self) -> str:
        return self.view.callback_id

    @property
    def private_metadata(self) -> str:
        return self.view.private_metadata

    @property
    def blocks(self) -> list[JSON]:
        return self.view.blocks

    @property
    def values(self) -> JSON:
        """``state.values`` as Slack would send it now."""
        return copy_json(self.view.values)

    @property
    def errors(self) -> dict[str, str]:
        """The errors the app showed after the last submission (block_id → message)."""
        return dict(self.view.errors)

    @property
    def is_open(self) -> bool:
        return self.view.open

    @property
    def title(self) -> str:
        return flatten_text([self.view.spec.get("title") or {}])

    @property
    def text(self) -> str:
        """All readable text of the view's blocks, for assertions."""
        return flatten_text(self.blocks)

    def element(self, action_id: str, block_id: str | None = None) -> JSON:
        return find_element(self.blocks, action_id, block_id)[1]

    def options(self, action_id: str, block_id: str | None = None) -> list[JSON]:
        """The static options of an element (groups flattened)."""
        return static_options(self.element(action_id, block_id))

    def json(self) -> JSON:
        """The view exactly as Slack would put it in a payload."""
        return self._emulator.workspace.view_json(self.view)

    async def wait_updated(self, timeout: float | None = None) -> ViewHandle:
        """Wait until the app changed this view (new hash) or it closed since last looked."""
        seen = self._seen_hash
        await self._emulator.wait_until(
            lambda: self.view.hash != seen or not self.view.open,
            timeout,
            f"view {self.id} to change",
        )
        self._seen_hash = self.view.hash
        return self

    async def fill(
        self, action_id: str, text: str | None, *, block_id: str | None = None
    ) -> JSON | None:
        """Type ``text`` into a text (or number/email/url) input; None clears it."""
        return await self._set(action_id, block_id, text)

    async def select(
        self, action_id: str, choice: str | JSON | None, *, block_id: str | None = None
    ) -> JSON | None:
        """Pick one value: an option value (static, or external: offered by :meth:`suggest`, or
        else typed as the query, as a person types a name to find it), an option object, a
        user/channel id or a date; None deselects."""
        block, element = find_element(self.blocks, action_id, block_id)
        offered = static_options(element) + self._suggested.get(action_id, [])
        typed = isinstance(choice, str) and choice not in [o.get("value") for o in offered]
        if element["type"] == "external_select" and typed:
            assert isinstance(choice, str)
            await self.suggest(action_id, choice, block_id=block_id)
        return await self._set(action_id, block["block_id"], self._resolve(element, choice))

    async def select_many(
        self, action_id: str, choices: list[str | JSON], *, block_id: str | None = None
    ) -> JSON | None:
        """Pick several values of a multi-select or checkboxes (replacing the selection)."""
        block, element = find_element(self.blocks, action_id, block_id)
        resolved = [self._resolve(element, choice) for choice in choices]
        return await self._set(action_id, block["block_id"], resolved)

    def _resolve(self, element: JSON, choice: str | JSON | None) -> Any:
        key = value_key(element)
        if choice is None or isinstance(choice, dict):
            return choice
        if key not in ("selected_option", "selected_options"):
            return choice
        candidates = static_options(element) + self._suggested.get(element["action_id"], [])
        for option in candidates:
            if option.get("value") == choice:
                return copy_json(option)
        values = [o.get("value") for o in candidates]
        raise LookupError(f"{element['action_id']}: no option with value {choice!r} in {values}")

    async def _set(self, action_id: str, block_id: str | None, value: Any) -> JSON | None:
        view = self.view
        block, element = find_element(view.blocks, action_id, block_id)
        key = value_key(element)
        if key is None:
            raise LookupError(f"{action_id!r} is a {element['type']}, not an input")
        state = {"type": element["type"], key: value}
        view.values.setdefault(block["block_id"], {})[action_id] = state
        if not dispatches(block, element):
            return None
        return await self._send_action(action_json(block, element, state))

    async def click(
        self, action_id: str, value: str | None = None, *, block_id: str | None = None
    ) -> JSON:
        """Click a button in this view (a modal or the Home tab)."""
        block, element = find_element(self.blocks, action_id, block_id)
        if element["type"] != "button":
            raise LookupError(f"{action_id!r} is a {element['type']}, not a button")
        return await self._send_action(action_json(block, element, value=value))

    async def _send_action(self, action: JSON) -> JSON:
        emulator = self._emulator
        trigger_id = emulator.workspace.issue_trigger(self.user_id)
        payload = view_action_payload(emulator.workspace, self.view, action, trigger_id)
        ack = await emulator.send_envelope("interactive", payload)
        return ack.payload or {}

    async def suggest(self, action_id: str, query: str, *, block_id: str | None = None) -> JSON:
        """Type ``query`` into an external select: returns the ack payload (``options`` or
        ``option_groups``); its options can then be picked by value with :meth:`select`."""
        emulator = self._emulator
        block, _element = find_element(self.blocks, action_id, block_id)
        payload = block_suggestion_payload(
            emulator.workspace, self.view, block["block_id"], action_id, query
        )
        ack = await emulator.send_envelope("interactive", payload)
        answer = ack.payload or {}
        for problem in validate_options_payload(ack.payload):
            emulator.problems.append(f"block_suggestion {action_id}: {problem}")
        self._suggested[action_id] = flatten_options(answer)
        return answer

    async def submit(self) -> JSON:
        """Press Submit: sends view_submission, then does what the ack says (close, errors,
        update, push, clear) and returns the ack payload ({} for a plain ack)."""
        emulator = self._emulator
        workspace = emulator.workspace
        view = self.view
        trigger_id = workspace.issue_trigger(view.user_id)
        ack = await emulator.send_envelope(
            "interactive", view_submission_payload(workspace, view, trigger_id)
        )
        answer = ack.payload or {}
        try:
            self._apply_submission_answer(view, answer)
        except ApiError as e:
            # Slack shows the person a generic error and leaves the view as it was.
            emulator.problems.append(f"view_submission ack rejected: {e.code} {e.extra}")
        emulator.notify()
        return answer

    def _apply_submission_answer(self, view: OpenView, answer: JSON) -> None:
        workspace = self._emulator.workspace
        action = answer.get("response_action")
        if action == "errors":
            errors = answer.get("errors") or {}
            unknown = set(errors) - input_block_ids(view.blocks)
            if unknown:
                raise ApiError("invalid_arguments", errors_for_non_input_blocks=sorted(unknown))
            view.errors = {str(k): str(v) for k, v in errors.items()}
        elif action == "update":
            workspace.replace_view(view, answer.get("view"))
        elif action == "push":
            workspace.push_view(view.user_id, answer.get("view"))
        elif action == "clear":
            workspace.close_all_views(view.user_id)
        elif action is None:
            workspace.close_top_view(view.user_id)
        else:
            raise ApiError("invalid_arguments", response_action=action)

    async def close(self) -> JSON | None:
        """Press Cancel: the view closes; view_closed is sent only with notify_on_close."""
        emulator = self._emulator
        view = self.view
        payload = view_closed_payload(emulator.workspace, view)
        emulator.workspace.close_top_view(view.user_id)
        emulator.notify()
        if not view.spec.get("notify_on_close"):
            return None
        return (await emulator.send_envelope("interactive", payload)).payload
