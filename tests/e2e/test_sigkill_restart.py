"""A real `cloud-access-bot run` process killed with SIGKILL loses nothing: state is DynamoDB's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, sandbox, sandbox_config
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator

BOB = APPROVERS[0]


def process_env(
    emulator: SlackEmulator, config: Path, tmp_path: Path, **overrides: str
) -> dict[str, str]:
    """The environment of a real ``cloud-access-bot run`` against the emulator, reading the
    config file ``config`` and writing its health file in ``tmp_path``."""
    return {
        **os.environ,
        "SLACK_APP_TOKEN": emulator.app_token,
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_API_URL": emulator.api_url,
        "BOT_CONFIG_FILE": str(config),
        "HEALTH_FILE": str(tmp_path / "health.json"),
        **overrides,
    }


async def start_bot_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloud_access_bot",
        "run",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def first_request(store: DynamoStore) -> AccessRequest | None:
    found = await store.for_user(REQUESTER, limit=1)
    return found[0] if found else None


async def test_sigkilled_bot_is_replaced_and_the_pending_request_still_grants(
    aws: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(json.dumps(sandbox_config().model_dump(mode="json")))
    async with sandbox(start=False) as world:
        emulator = world.emulator
        env = process_env(emulator, config, tmp_path)
        store = DynamoStore(world.clients, world.config.dynamodb_table)
        first = await start_bot_process(env)
        second = None
        try:
            await emulator.wait_connected(timeout=30)
            await world.request(resources=[world.accounts["development"].buckets[0]])
            request = await world.wait_for(lambda: first_request(store), "a stored request")
            dm = await world.approval_dm(BOB, request.id)
            assert request.status is Status.PENDING

            first.send_signal(signal.SIGKILL)
            await first.wait()
            opened = emulator.connections_opened
            second = await start_bot_process(env)
            await emulator.wait_connected(timeout=30, total=opened + 1)
            await emulator.wait_until(lambda: emulator.connection_count == 1, timeout=30)

            await emulator.click(BOB, dm, views.APPROVE_ACTION)
            for _ in range(100):
                current = await store.get(request.id)
                if current is not None and current.status is Status.ACTIVE:
                    break
                await asyncio.sleep(0.1)
            assert current is not None and current.status is Status.ACTIVE
            policies = await inline_policies(world.clients, world.accounts["development"])
            assert current.policy_name in policies
        finally:
            for process in (first, second):
                if process is not None and process.returncode is None:
                    process.kill()
                    await process.wait()
