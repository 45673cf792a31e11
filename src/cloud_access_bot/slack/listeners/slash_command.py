"""The slash command: ``/request`` opens the modal, ``/request <name>`` runs a subcommand,
anything else gets the help text."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.shared import AppDeps, answer, user_of
from cloud_access_bot.slack.views import ModalState


def register(app: AsyncApp, deps: AppDeps) -> None:
    @app.command(deps.command)
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        words = str(body.get("text") or "").split()
        name = words[0].lower() if words else ""
        if name in deps.subcommands:
            await ack()
            work = answer(deps.client, body, deps.subcommands[name], words[1:])
            await deps.guarded(user_of(body), work)
            return
        if name not in ("", "request"):
            await ack(text=views.help_text(deps.command, sorted(deps.subcommands)))
            return
        await ack()
        view = views.request_modal(deps.config(), ModalState())
        await deps.guarded(user_of(body), deps.open_view(body, view))
