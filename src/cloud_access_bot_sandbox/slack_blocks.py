"""Block Kit rules the Slack emulator enforces, as pure functions.

Validation returns Slack-style messages (``[ERROR] … [json-pointer:/view/blocks/3]``) instead of
raising, so the Web API can answer ``invalid_arguments`` / ``invalid_blocks`` with all of them.
Beyond these checks every block and view is parsed with slack_sdk's Block Kit models and must
read back unchanged: what the models reject or do not know fails the call, as Slack would.
State helpers build ``view.state.values`` the way Slack does: every stateful element appears,
with its initial value or null, and a value survives a views.update only when the element keeps
its block_id, action_id and type.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

_J = TypeVar("_J")


def copy_json(value: _J) -> _J:
    """A deep copy of JSON data. The emulator copies every view and message it stores or
    sends; a JSON round trip does that several times faster than ``copy.deepcopy``."""
    copied: _J = json.loads(json.dumps(value))
    return copied


JSON = dict[str, Any]

MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_TEXT = 24  # modal title, submit, close
MAX_PRIVATE_METADATA = 3000
MAX_ID = 255  # block_id, action_id, callback_id, external_id
MAX_OPTIONS = 100  # options and option_groups
MAX_OPTION_TEXT = 75
# Slack now accepts 150, older docs say 75; the project stays within 75, so the emulator does too.
MAX_OPTION_VALUE = 75
MAX_ACTIONS_ELEMENTS = 25
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_INPUT_LENGTH = 3000
MAX_VIEW_BYTES = 250_000

KNOWN_BLOCKS = frozenset(
    {"section", "actions", "input", "header", "context", "divider", "image", "rich_text", "file"}
)

#: Stateful element type → the key holding its value in ``state.values``.
VALUE_KEYS: dict[str, str] = {
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "static_select": "selected_option",
    "external_select": "selected_option",
    "radio_buttons": "selected_option",
    "multi_static_select": "selected_options",
    "multi_external_select": "selected_options",
    "checkboxes": "selected_options",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}

_INITIAL_KEYS = {
    "value": "initial_value",
    "selected_option": "initial_option",
    "selected_options": "initial_options",
    "selected_user": "initial_user",
    "selected_users": "initial_users",
    "selected_conversation": "initial_conversation",
    "selected_conversations": "initial_conversations",
    "selected_channel": "initial_channel",
    "selected_channels": "initial_channels",
    "selected_date": "initial_date",
    "selected_time": "initial_time",
    "selected_date_time": "initial_date_time",
}

_MULTI_KEYS = frozenset(
    {"selected_options", "selected_users", "selected_conversations", "selected_channels"}
)


def _error(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def _text_of(obj: Any) -> str:
    """The string of a text object (or a bare string); empty when absent."""
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return obj if isinstance(obj, str) else ""


def _check_length(value: Any, limit: int, pointer: str, errors: list[str]) -> None:
    if isinstance(value, str) and len(value) > limit:
        errors.append(_error(f"must be less than {limit + 1} characters", pointer))


def validate_options(options: Any, pointer: str) -> list[str]:
    """Check a list of option objects: at most 100, text and value within 75 characters."""
    if not isinstance(options, list):
        return [_error("must be an array", pointer)]
    errors: list[str] = []
    if len(options) > MAX_OPTIONS:
        errors.append(_error(f"must be less than {MAX_OPTIONS + 1} items", pointer))
    for i, option in enumerate(options):
        if not isinstance(option, dict) or "value" not in option or "text" not in option:
            errors.append(_error("option must have text and value", f"{pointer}/{i}"))
            continue
        _check_length(_text_of(option["text"]), MAX_OPTION_TEXT, f"{pointer}/{i}/text", errors)
        _check_length(option["value"], MAX_OPTION_VALUE, f"{pointer}/{i}/value", errors)
    return errors


def validate_option_groups(groups: Any, pointer: str) -> list[str]:
    if not isinstance(groups, list):
        return [_error("must be an array", pointer)]
    errors: list[str] = []
    if len(groups) > MAX_OPTIONS:
        errors.append(_error(f"must be less than {MAX_OPTIONS + 1} items", pointer))
    for i, group in enumerate(groups):
        if not isinstance(group, dict):
            errors.append(_error("option group must be an object", f"{pointer}/{i}"))
            continue
        _check_length(_text_of(group.get("label")), MAX_OPTION_TEXT, f"{pointer}/{i}/label", errors)
        errors += validate_options(group.get("options"), f"{pointer}/{i}/options")
    return errors


def validate_options_payload(payload: JSON | None) -> list[str]:
    """Check a block_suggestion ack: ``options`` or ``option_groups``, within the limits."""
    if not payload:
        return [_error("block_suggestion ack has no options", "/payload")]
    if "option_groups" in payload:
        return validate_option_groups(payload["option_groups"], "/payload/option_groups")
    return validate_options(payload.get("options"), "/payload/options")


def _validate_element(element: Any, pointer: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [_error("element must have a type", pointer)]
    errors: list[str] = []
    _check_length(element.get("action_id"), MAX_ID, f"{pointer}/action_id", errors)
    if "options" in element:
        errors += validate_options(element["options"], f"{pointer}/options")
    if "option_groups" in element:
        errors += validate_option_groups(element["option_groups"], f"{pointer}/option_groups")
    max_length = element.get("max_length")
    if isinstance(max_length, int) and max_length > MAX_INPUT_LENGTH:
        errors.append(_error(f"must be at most {MAX_INPUT_LENGTH}", f"{pointer}/max_length"))
    if element["type"] == "button":
        _check_length(_text_of(element.get("text")), MAX_OPTION_TEXT, f"{pointer}/text", errors)
        _check_length(element.get("value"), MAX_FIELD_TEXT, f"{pointer}/value", errors)
    return errors


def _validate_block(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, dict) or block.get("type") not in KNOWN_BLOCKS:
        return [_error("unsupported block type", f"{pointer}/type")]
    errors: list[str] = []
    _check_length(block.get("block_id"), MAX_ID, f"{pointer}/block_id", errors)
    kind = block["type"]
    if kind == "section":
        _check_length(_text_of(block.get("text")), MAX_SECTION_TEXT, f"{pointer}/text", errors)
        fields = block.get("fields") or []
        if len(fields) > MAX_FIELDS:
            errors.append(_error(f"must be less than {MAX_FIELDS + 1} items", f"{pointer}/fields"))
        for i, field in enumerate(fields):
            _check_length(_text_of(field), MAX_FIELD_TEXT, f"{pointer}/fields/{i}", errors)
        if "text" not in block and not fields:
            errors.append(_error("section needs text or fields", pointer))
        if "accessory" in block:
            errors += _validate_element(block["accessory"], f"{pointer}/accessory")
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
            errors.append(_error(f"must have 1 to {MAX_ACTIONS_ELEMENTS} items", pointer))
        action_ids = [e.get("action_id") for e in elements if isinstance(e, dict)]
        if len(set(action_ids)) != len(action_ids):
            errors.append(_error("action_id must be unique in the block", f"{pointer}/elements"))
        for i, element in enumerate(elements):
            errors += _validate_element(element, f"{pointer}/elements/{i}")
    elif kind == "input":
        if not _text_of(block.get("label")):
            errors.append(_error("input block needs a label", f"{pointer}/label"))
        errors += _validate_element(block.get("element"), f"{pointer}/element")
    elif kind == "header":
        _check_length(_text_of(block.get("text")), MAX_HEADER_TEXT, f"{pointer}/text", errors)
    return errors


def validate_blocks(blocks: Any, limit: int, pointer: str) -> list[str]:
    """Check a list of blocks (a view's or a message's) against Slack's limits."""
    if not isinstance(blocks, list):
        return [_error("must be an array", pointer)]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(_error(f"must be less than {limit + 1} items", pointer))
    block_ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(set(block_ids)) != len(block_ids):
        errors.append(_error("block_id must be unique", pointer))
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        errors += _validate_block(block, where) or _sdk_errors(
            _sdk_block_problem(json.dumps(block, sort_keys=True)), where
        )
    return errors


def _sdk_problem(parse: Callable[[JSON], JsonObject | None], value: JSON) -> str | None:
    """What slack_sdk's Block Kit models reject in a block or view the checks here let through:
    their own validators (lengths, allowed values, required fields), and any key or shape the
    model reads differently (a misspelt or misplaced field, which Slack would reject)."""
    try:
        parsed = parse(value)
        checked = parsed.to_dict() if parsed is not None else None
    except (SlackObjectFormationError, TypeError, KeyError, AttributeError) as problem:
        return f"slack_sdk: {problem}"
    if checked != value:
        return f"slack_sdk reads this as {json.dumps(checked)}"
    return None


@functools.lru_cache(maxsize=4096)
def _sdk_block_problem(serialized: str) -> str | None:
    """Parsing is slow (~0.5 ms a block) and blocks repeat from one view or message to the next
    (a Home tab is re-published after every change): each distinct block is parsed once."""
    return _sdk_problem(Block.parse, json.loads(serialized))


def _sdk_errors(problem: str | None, pointer: str) -> list[str]:
    return [_error(problem, pointer)] if problem else []


def validate_view(view: Any, pointer: str = "/view") -> list[str]:
    """Check a modal or Home tab view as views.open/update/push/publish would."""
    if not isinstance(view, dict):
        return [_error("view must be an object", pointer)]
    errors: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        errors.append(_error("type must be modal or home", f"{pointer}/type"))
    if kind == "modal":
        if not _text_of(view.get("title")):
            errors.append(_error("modal needs a title", f"{pointer}/title"))
        for key in ("title", "submit", "close"):
            _check_length(_text_of(view.get(key)), MAX_VIEW_TEXT, f"{pointer}/{key}", errors)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and not view.get("submit"):
            errors.append(_error("submit is required when an input block is present", pointer))
    _check_length(
        view.get("private_metadata"), MAX_PRIVATE_METADATA, f"{pointer}/private_metadata", errors
    )
    for key in ("callback_id", "external_id"):
        _check_length(view.get(key), MAX_ID, f"{pointer}/{key}", errors)
    errors += validate_blocks(view.get("blocks"), MAX_VIEW_BLOCKS, f"{pointer}/blocks")
    if errors:
        return errors
    # The blocks were checked one by one above (each distinct block parsed once): a stand-in
    # keeps the view's own check from parsing them all again.
    frame = {**view, "blocks": [{"type": "divider"}]}
    return _sdk_errors(_sdk_problem(lambda spec: View(**spec), frame), pointer)


def input_block_ids(blocks: list[JSON]) -> set[str]:
    return {b["block_id"] for b in blocks if b.get("type") == "input" and "block_id" in b}


def interactive_elements(blocks: list[JSON]) -> Iterator[tuple[JSON, JSON]]:
    """Yield (block, element) for every element a person can act on, in display order."""
    for block in blocks:
        kind = block.get("type")
        if kind == "input" and isinstance(block.get("element"), dict):
            yield block, block["element"]
        elif kind == "actions":
            for element in block.get("elements") or []:
                yield block, element
        elif kind == "section" and isinstance(block.get("accessory"), dict):
            yield block, block["accessory"]


def dispatches(block: JSON, element: JSON) -> bool:
    """Whether changing ``element`` sends block_actions (inputs only with dispatch_action)."""
    if element.get("type") == "button":
        return True
    return block.get("type") != "input" or bool(block.get("dispatch_action"))


def with_generated_ids(blocks: list[JSON]) -> list[JSON]:
    """Copy ``blocks``, giving a random block_id / action_id where the app left one out.

    Slack does the same, which is why an element without explicit ids loses its value on every
    views.update.
    """
    result = copy_json(blocks)
    for block in result:
        block.setdefault("block_id", secrets.token_urlsafe(4))
    for _block, element in interactive_elements(result):
        if isinstance(element, dict):
            element.setdefault("action_id", secrets.token_urlsafe(4))
    return result


def value_key(element: JSON) -> str | None:
    """The state.values key of a stateful element (None for buttons and the like)."""
    return VALUE_KEYS.get(str(element.get("type")))


def _initial_entry(element: JSON, key: str) -> JSON:
    default: Any = [] if key in _MULTI_KEYS else None
    return {"type": element["type"], key: copy_json(element.get(_INITIAL_KEYS[key], default))}


def carry_state(old_values: JSON, blocks: list[JSON]) -> JSON:
    """state.values for ``blocks``: old values where block_id, action_id and type are unchanged,
    initial values (or null) elsewhere."""
    values: JSON = {}
    for block, element in interactive_elements(blocks):
        key = value_key(element)
        if key is None:
            continue
        block_id, action_id = block["block_id"], element["action_id"]
        old = old_values.get(block_id, {}).get(action_id)
        if old is not None and old.get("type") == element["type"]:
            entry = copy_json(old)
        else:
            entry = _initial_entry(element, key)
        values.setdefault(block_id, {})[action_id] = entry
    return values


def static_options(element: JSON) -> list[JSON]:
    """Every option of a static element, groups flattened."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def flatten_options(payload: JSON) -> list[JSON]:
    """Options from a block_suggestion ack, option_groups flattened."""
    return static_options(payload)


def flatten_text(blocks: list[JSON], fallback: str = "") -> str:
    """Every piece of human-readable text in ``blocks``, one per line (``fallback`` if none)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            text = node.get("text")
            if node.get("type") in ("plain_text", "mrkdwn", "text") and isinstance(text, str):
                parts.append(text)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(parts) if parts else fallback
