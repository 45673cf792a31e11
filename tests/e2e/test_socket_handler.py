"""AckingSocketModeHandler over a real Socket Mode WebSocket: each ack goes out when the
listener calls ``ack()``, while the listener's work goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.slack.socket_handler import AckingSocketModeHandler
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator

ALICE = "U0ALICE"


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator()
    await emulator.start()
    emulator.add_user(ALICE, "alice", "alice@example.com")
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def app(emulator: SlackEmulator) -> AsyncApp:
    client = AsyncWebClient(token=emulator.bot_token, base_url=emulator.api_url)
    return AsyncApp(client=client, process_before_response=True)


async def connect(app: AsyncApp, emulator: SlackEmulator) -> AckingSocketModeHandler:
    handler = AckingSocketModeHandler(app, emulator.app_token)
    await asyncio.wait_for(handler.connect_async(), 10)
    await emulator.wait_connected()
    return handler


async def test_the_ack_goes_out_while_the_listener_is_still_working(
    app: AsyncApp, emulator: SlackEmulator
) -> None:
    release = asyncio.Event()
    finished: list[str] = []

    @app.command("/request")
    async def slow(ack: Any, body: dict[str, Any]) -> None:
        await ack(text="On it")
        await release.wait()
        finished.append(body["text"])

    handler = await connect(app, emulator)
    try:
        answer = await emulator.slash_command(ALICE, "/request", "audit")

        assert answer == {"text": "On it"}
        assert finished == []
        release.set()
        await emulator.wait_until(lambda: finished, 5, "the listener to finish")
        assert finished == ["audit"]
    finally:
        await handler.close_async()


async def test_events_are_acked_on_arrival(app: AsyncApp, emulator: SlackEmulator) -> None:
    release = asyncio.Event()

    @app.event("app_home_opened")
    async def slow_home(event: dict[str, Any]) -> None:
        await release.wait()

    handler = await connect(app, emulator)
    try:
        assert await emulator.app_home_opened(ALICE) == {}
        release.set()
    finally:
        await handler.close_async()


def test_the_handler_needs_an_app_that_processes_before_responding(
    emulator: SlackEmulator,
) -> None:
    client = AsyncWebClient(token=emulator.bot_token, base_url=emulator.api_url)
    with pytest.raises(ValueError, match="process_before_response"):
        AckingSocketModeHandler(AsyncApp(client=client), emulator.app_token)
