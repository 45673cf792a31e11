"""The Bolt app: one registration module per feature (slack/listeners/), wired here.

``Inflight``, ``Subcommand`` and ``Suggestions`` are re-exported for the modules that extend the
app (home.py, commands.py, the audit subcommand) and for the runtime.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.ports import IdentityCenterDirectory
from cloud_access_bot.service import AccessService
from cloud_access_bot.service_batch import BatchService
from cloud_access_bot.slack.listeners import (
    added_services,
    batch,
    decisions,
    errors,
    extensions,
    full_request,
    options,
    permission_sets,
    request_modal,
    slash_command,
    usage,
)
from cloud_access_bot.slack.listeners.shared import AppDeps, Inflight, Subcommand, Suggestions

__all__ = ["Inflight", "Subcommand", "Suggestions", "build_app"]

FEATURES = (
    slash_command,
    request_modal,
    permission_sets,
    added_services,
    options,
    decisions,
    batch,
    extensions,
    full_request,
    usage,
    errors,
)


def build_app(
    *,
    client: AsyncWebClient,
    service: AccessService,
    suggestions: Suggestions,
    config: Callable[[], BotConfig],
    inflight: Inflight,
    subcommands: Mapping[str, Subcommand] | None = None,
    identity_center: IdentityCenterDirectory | None = None,
    usage: Callable[[AccessRequest], Awaitable[str]] | None = None,
    batch_service: BatchService | None = None,
) -> AsyncApp:
    """The Bolt app with the request listeners; ``subcommands`` extend ``/request <name>``."""
    # Unmatched or malformed payloads become errors, which listeners/errors.py turns into a plain
    # ack. process_before_response: AckingSocketModeHandler answers as soon as ack() is called.
    app = AsyncApp(
        client=client, raise_error_for_unhandled_request=True, process_before_response=True
    )
    deps = AppDeps(
        client=client,
        service=service,
        suggestions=suggestions,
        config=config,
        inflight=inflight,
        command=f"/{config().request_command}",
        subcommands=dict(subcommands or {}),
        identity_center=identity_center,
        usage=usage,
        batch=batch_service,
    )
    for feature in FEATURES:
        feature.register(app, deps)
    return app
