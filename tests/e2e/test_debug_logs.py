"""DEBUG logs of real library traffic (botocore's STS answer, Socket Mode connect): no secret."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.logging_setup import REDACTED, configure_logging
from cloud_access_bot.slack.app import Inflight
from cloud_access_bot.slack.socket_handler import AckingSocketModeHandler
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    yield stream
    configure_logging(level, "json", io.StringIO())  # puts the libraries' levels back too
    root.handlers[:] = handlers


def _messages(stream: io.StringIO) -> str:
    return "\n".join(json.loads(line)["msg"] for line in stream.getvalue().splitlines())


async def test_botocore_debug_of_assume_role_shows_no_credential(
    aws: str, debug_log: io.StringIO
) -> None:
    clients = AwsClients(region="eu-west-1")
    try:
        async with clients.client("sts") as sts:
            answer = await sts.assume_role(
                RoleArn="arn:aws:iam::111111111111:role/cloud-access-bot",
                RoleSessionName="debug-test",
            )
    finally:
        await clients.close()
    credentials = answer["Credentials"]

    text = _messages(debug_log)
    assert "<AssumeRoleResponse" in text  # the response body really was logged
    assert credentials["SecretAccessKey"] not in text
    assert credentials["SessionToken"] not in text
    assert f"<SecretAccessKey>{REDACTED}</SecretAccessKey>" in text
    assert credentials["AccessKeyId"] in text  # an identifier, not a secret: kept for debugging


async def test_socket_mode_connect_logs_no_ticket_or_token(debug_log: io.StringIO) -> None:
    emulator = SlackEmulator()
    await emulator.start()
    client = AsyncWebClient(token=emulator.bot_token, base_url=emulator.api_url)
    app = AsyncApp(client=client, process_before_response=True)
    handler = AckingSocketModeHandler(app, emulator.app_token, inflight=Inflight())
    try:
        await handler.connect_async()
        await emulator.wait_connected(timeout=10)
        await handler.disconnect_async()
        await handler.close_async()
    finally:
        await emulator.stop()

    text = _messages(debug_log)
    assert "/link/?ticket=" in text  # the WebSocket URL really was logged
    assert not re.search(r"ticket=(?!\[REDACTED\])", text), text
    assert emulator.app_token not in text
    assert emulator.bot_token not in text
