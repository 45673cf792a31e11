"""slack-app-manifest.yml asks for exactly the bot scopes the product code needs.

The required scopes are derived from the source: every Slack Web API method the code under
src/cloud_access_bot calls (``client.<method>(`` or ``api_call("<method>")``), every event it
listens to, the slash command, and the profile fields it reads. A scope the manifest lacks
breaks a feature in a real workspace; a scope nobody uses is access an admin is asked to grant
for nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import yaml
from slack_sdk.web.async_base_client import AsyncBaseClient
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.slack.commands import subcommands
from cloud_access_bot.slack.home import Deps

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ROOT / "src" / "cloud_access_bot"
MANIFEST = ROOT / "slack-app-manifest.yml"

# Bot-token scopes of the Web API methods, from each method's "Required scopes" on
# https://docs.slack.dev/reference/methods/<method> (also /work/shared/reference/slack.md).
# A method the code starts calling must be added here with its scopes from those pages.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "chat.delete": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "conversations.open": frozenset({"im:write"}),
    # The bot lists and reads public and private channels only (types=public_channel,
    # private_channel): channels:read and groups:read; never im:read / mpim:read.
    "conversations.list": frozenset({"channels:read", "groups:read"}),
    "conversations.members": frozenset({"channels:read", "groups:read"}),
    "team.info": frozenset({"team:read"}),
    "usergroups.list": frozenset({"usergroups:read"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "users.info": frozenset({"users:read"}),
    "users.list": frozenset({"users:read"}),
    "users.lookupByEmail": frozenset({"users:read.email"}),
    "views.open": frozenset(),
    "views.publish": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
    # Called with the app-level token (its connections:write is set outside the manifest).
    "apps.connections.open": frozenset(),
}

# Events API subscriptions: https://docs.slack.dev/reference/events/<event>.
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_home_opened": frozenset(),
    "app_mention": frozenset({"app_mentions:read"}),
    "message.im": frozenset({"im:history"}),
}

# users.info and users.list return profile.email only with users:read.email.
READS_EMAIL = re.compile(r"""["']profile["'].{0,30}["']email["']""")

WEB_API_NAMES = frozenset(
    name
    for name in set(dir(AsyncWebClient)) - set(dir(AsyncBaseClient))
    if not name.startswith("_")
)
ATTRIBUTE_CALL = re.compile(r"\.([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)\(")
API_CALL = re.compile(r"""api_call\(\s*["']([A-Za-z.]+)["']""")
EVENT_LISTENER = re.compile(r"""\.event\(\s*["']([a-z_.]+)["']""")
COMMAND_LISTENER = re.compile(r"\.command\(")


def product_sources() -> dict[Path, str]:
    """The bot's own modules; the sandbox is the local Slack emulator, not the product."""
    return {
        path: path.read_text(encoding="utf-8")
        for path in sorted(PRODUCT.rglob("*.py"))
        if "sandbox" not in path.relative_to(PRODUCT).parts
    }


def called_methods(sources: dict[Path, str]) -> set[str]:
    """Slack method names ("chat.postMessage") the code calls on a Web API client."""
    methods: set[str] = set()
    for text in sources.values():
        methods.update(
            name.replace("_", ".") for name in ATTRIBUTE_CALL.findall(text) if name in WEB_API_NAMES
        )
        methods.update(API_CALL.findall(text))
    return methods


def listened_events(sources: dict[Path, str]) -> set[str]:
    return {event for text in sources.values() for event in EVENT_LISTENER.findall(text)}


def required_scopes(sources: dict[Path, str]) -> set[str]:
    methods = called_methods(sources)
    unknown = sorted(methods - METHOD_SCOPES.keys())
    assert not unknown, f"add {unknown} to METHOD_SCOPES with the scopes Slack's docs give"
    events = listened_events(sources)
    unknown_events = sorted(events - EVENT_SCOPES.keys())
    assert not unknown_events, f"add {unknown_events} to EVENT_SCOPES from Slack's docs"
    scopes = {scope for method in methods for scope in METHOD_SCOPES[method]}
    scopes |= {scope for event in events for scope in EVENT_SCOPES[event]}
    if any(COMMAND_LISTENER.search(text) for text in sources.values()):
        scopes.add("commands")
    if any(READS_EMAIL.search(text) for text in sources.values()):
        scopes.add("users:read.email")
    return scopes


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_the_scan_finds_the_calls_the_bot_is_known_to_make() -> None:
    methods = called_methods(product_sources())

    assert {"chat.postMessage", "conversations.open", "users.info", "views.open"} <= methods


def test_manifest_bot_scopes_are_exactly_the_scopes_the_code_needs() -> None:
    needed = required_scopes(product_sources())
    granted = set(manifest()["oauth_config"]["scopes"]["bot"])

    assert not needed - granted, f"missing from the manifest: {sorted(needed - granted)}"
    assert not granted - needed, f"granted but never used: {sorted(granted - needed)}"


def test_manifest_subscribes_to_exactly_the_events_the_code_listens_to() -> None:
    subscribed = set(manifest()["settings"]["event_subscriptions"]["bot_events"])

    assert subscribed == listened_events(product_sources())


def test_messages_to_the_bot_are_turned_off_since_nothing_answers_them() -> None:
    """No listener handles message.im, so a DM typed to the bot would get silence: the App
    Home keeps its Messages tab (approval DMs live there) but read-only."""
    app_home = manifest()["features"]["app_home"]

    assert "message.im" not in listened_events(product_sources())
    assert not app_home["messages_tab_enabled"] or app_home["messages_tab_read_only_enabled"]


def test_slash_command_usage_hint_lists_every_subcommand() -> None:
    (command,) = manifest()["features"]["slash_commands"]
    hint_words = set(re.findall(r"[a-z]+", command["usage_hint"]))
    names = set(subcommands(deps=cast(Deps, None))) | {"help"}  # only the names: deps unused

    assert names <= hint_words, f"usage hint lacks {sorted(names - hint_words)}"
