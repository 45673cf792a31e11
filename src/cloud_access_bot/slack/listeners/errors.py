"""What Bolt does with a payload no listener handles, or a listener failing before its guard."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse

from cloud_access_bot.slack.listeners.shared import AppDeps

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: AppDeps) -> None:
    """Unmatched or malformed payloads are acked plainly: Bolt would otherwise send no ack and
    Slack would show the person an error."""

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        if isinstance(error, BoltUnhandledRequestError):
            log.info("acked a payload no listener handles (type %s)", body.get("type"))
        else:
            log.error("listener failed before finishing: %r", error)
        return BoltResponse(status=200, body="")
