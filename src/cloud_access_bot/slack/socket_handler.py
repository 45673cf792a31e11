"""The Socket Mode handler: sends each ack the moment the listener calls ``ack()``.

Bolt's asyncio runner (``process_before_response=False``) starts the listener as a task and
then polls ``ack.response`` every 10 ms before answering Slack, so every ack waited 0–10 ms for
nothing, and longer when the event loop was busy: the benchmark measured a 12 ms median ack for
listeners that ack in well under 1 ms. Here the app runs with ``process_before_response=True``
(Bolt awaits the whole listener) and the ``ack`` each listener gets sends its answer over the
socket itself, the moment it is called; the listener then goes on with its work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from time import time
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest

from cloud_access_bot.slack.listeners.shared import Inflight

log = logging.getLogger(__name__)


class AnsweringAck(AsyncAck):
    """Bolt's ``ack``, which sends its answer over the socket the moment a listener calls it
    (once: a second call changes nothing Slack sees)."""

    def __init__(self, send: Callable[[BoltResponse], Awaitable[None]]) -> None:
        super().__init__()
        self._send = send
        self.sent = False

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await super().__call__(*args, **kwargs)
        if not self.sent:
            self.sent = True
            try:
                await self._send(response)
            except Exception:
                # The socket is being replaced or closed: Slack redelivers the envelope. The
                # listener still does its work, as it did when Bolt sent acks for it.
                log.warning("could not send an ack; the listener goes on", exc_info=True)
        return response


class AckingSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, answering on ``ack()`` and acking whatever Bolt cannot parse.

    Events (``events_api``) are acked on arrival: their ack carries nothing, and Bolt would
    send it only after the listener. A payload Bolt cannot even parse (it builds its request
    context before dispatching, e.g. it reads ``view`` as a mapping) raises outside every
    listener and error handler; it is still acked, or Slack would show the person an error
    and redeliver it.
    """

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        *,
        inflight: Inflight | None = None,
        on_ack: Callable[[float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """``inflight`` counts each envelope from arrival until its listener has finished, so
        shutdown (and a test) can wait for work that goes on after the ack; ``on_ack`` hears
        each ack's latency in milliseconds (metrics)."""
        if not app.process_before_response:
            raise ValueError("the app must run with process_before_response=True")
        super().__init__(app, app_token, **kwargs)
        self._inflight = inflight or Inflight()
        self._on_ack = on_ack or (lambda milliseconds: None)

    async def handle(self, client: Any, req: SocketModeRequest) -> None:
        async with self._inflight.track():
            await self._handle(client, req)

    async def _handle(self, client: Any, req: SocketModeRequest) -> None:
        started = time()

        async def send(response: BoltResponse) -> None:
            await send_async_response(client, req, response, started)
            self._on_ack((time() - started) * 1000)

        ack = AnsweringAck(send)
        if req.type == "events_api":
            await ack()
        try:
            request = AsyncBoltRequest(
                mode="socket_mode", body=req.payload, headers=build_headers(req)
            )
            request.context["ack"] = ack
            response = await self.app.async_dispatch(request)
        except Exception:
            if ack.sent:
                log.exception("envelope %s failed after its ack", req.envelope_id)
                return
            log.warning("acked a payload Bolt could not parse (envelope %s)", req.envelope_id)
            response = BoltResponse(status=200, body="")
        if not ack.sent:
            ack.sent = True
            await send(response)
