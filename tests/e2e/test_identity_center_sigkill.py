"""Identity Center grants survive a real `cloud-access-bot run` process SIGKILLed mid-grant.

A kill at an exact step cannot be timed from outside a real process, so the fault proxy in
front of moto holds the step's AWS call for a few seconds and the process is killed while
the call is held (the proxy then delivers it, as AWS finishes a call it already received).
Each mode is killed twice: once before the assignment, membership or permission set exists,
then, in the replacement, once it exists but before ACTIVE is recorded. A third process
finishes the grant (the sweeper picks up a request stuck in APPROVED), with nothing made
twice, and removes it when it expires.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_access_bot.aws.identity_center import IdentityCenter
from cloud_access_bot.config import GROUPS_ACCOUNT, IdentityCenterConfig
from cloud_access_bot.domain.identity_center import request_set_name
from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.identity_center import (
    ask_for,
    assignments,
    identity_center_config,
    members,
    permission_set_names,
    seed_identity_center,
)
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    Sandbox,
    sandbox,
)
from tests.e2e.test_sigkill_restart import process_env

BOB = APPROVERS[0]
#: How long the proxy holds the call the process is killed in.
HOLD_S = 3.0
#: The sweeper recovers a request stuck in APPROVED after 30 s (service.STUCK_APPROVAL), then
#: the grant takes a few seconds; the whole run stays well under this.
RECOVERY_S = 90.0
#: The sweeper runs every second; an expired grant is removed within this.
ON_TIME = timedelta(seconds=10)


@dataclass
class Bot:
    """The processes of one test: each replaces the one killed before it."""

    world: Sandbox
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        emulator = self.world.emulator
        opened = emulator.connections_opened
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cloud_access_bot",
            "run",
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await emulator.wait_connected(timeout=30, total=opened + 1)
        await emulator.wait_until(lambda: emulator.connection_count == 1, timeout=30)

    async def kill_in(self, proxy: AwsFaultProxy, service: str, operation: str) -> None:
        """SIGKILL the process while the proxy holds its ``operation`` call (installed now,
        so only the next such call is held)."""
        fault = proxy.inject("delay", service, operation, seconds=HOLD_S)

        async def held() -> bool:
            return fault.hits == 1

        await self.world.wait_for(held, f"the bot calling {operation}", RECOVERY_S)
        await self.stop()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


@dataclass
class World:
    sandbox: Sandbox
    center: IdentityCenterConfig
    users: dict[str, str]
    ids: dict[str, str]
    bot: Bot
    proxy: AwsFaultProxy

    async def approve_and_kill(self, service: str, operation: str) -> AccessRequest:
        """Approve the stored request and kill the bot in its ``operation`` call."""
        request = await self.sandbox.latest_request()
        dm = await self.sandbox.approval_dm(BOB, request.id)
        kill = asyncio.create_task(self.bot.kill_in(self.proxy, service, operation))
        await self.sandbox.click(BOB, dm, views.APPROVE_ACTION)
        await kill
        await self.sandbox.wait_for_status(request.id, Status.APPROVED)
        return request

    async def replace_and_kill(self, service: str, operation: str) -> None:
        await self.bot.start()
        await self.bot.kill_in(self.proxy, service, operation)

    async def finish(self, request: AccessRequest) -> AccessRequest:
        await self.bot.start()
        return await self.sandbox.wait_for_status(request.id, Status.ACTIVE, timeout=RECOVERY_S)

    async def removed_on_time(
        self, active: AccessRequest, gone: Callable[[], Awaitable[bool]]
    ) -> None:
        assert active.expires_at is not None
        await self.sandbox.wait_for(gone, "the grant removed", RECOVERY_S)
        removed_at = datetime.now(UTC)
        assert active.expires_at <= removed_at <= active.expires_at + ON_TIME
        await self.sandbox.wait_for_status(active.id, Status.EXPIRED)


@pytest.fixture
async def world(aws: str, tmp_path: Path) -> AsyncIterator[World]:
    """production grants permission sets, development request-shaped ones; the bot is a real
    process reaching AWS through the fault proxy."""
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    async with sandbox(start=False) as made:
        seeded = await seed_identity_center(made.clients)
        made.config = identity_center_config(seeded.config)
        config = tmp_path / "config.yml"
        config.write_text(json.dumps(made.config.model_dump(mode="json")))
        env = process_env(made.emulator, config, tmp_path, AWS_ENDPOINT_URL=proxy.endpoint)
        bot = Bot(made, env)
        ids = {**seeded.permission_sets, **seeded.groups}
        try:
            await bot.start()
            yield World(made, seeded.config, seeded.users, ids, bot, proxy)
        finally:
            await bot.stop()
            await proxy.stop()


async def test_a_permission_set_assignment_survives_two_kills_and_ends_on_time(
    world: World,
) -> None:
    sandbox_, center = world.sandbox, world.center
    arn = world.ids["ReadOnlyAccess"]

    async def held() -> list[dict[str, Any]]:
        return await assignments(sandbox_.clients, center, ACCOUNTS["production"], arn)

    await ask_for(sandbox_.emulator, "ReadOnlyAccess", duration=1)
    request = await world.approve_and_kill("sso", "ListAccountAssignments")
    assert await held() == []
    await world.replace_and_kill("sso", "DescribeAccountAssignmentCreationStatus")
    assert len(await held()) == 1

    active = await world.finish(request)

    assert [a["PrincipalId"] for a in await held()] == [world.users["alice"]]

    async def gone() -> bool:
        return await held() == []

    await world.removed_on_time(active, gone)


async def test_a_group_membership_survives_two_kills_and_ends_on_time(world: World) -> None:
    sandbox_, center = world.sandbox, world.center
    group = world.ids["prod-support"]

    await ask_for(sandbox_.emulator, "prod-support", duration=1, account=GROUPS_ACCOUNT)
    request = await world.approve_and_kill("identitystore", "GetGroupMembershipId")
    assert await members(sandbox_.clients, center, group) == []
    await world.replace_and_kill("identitystore", "CreateGroupMembership")
    # The held call reaches AWS after the kill: the membership exists, unrecorded by the bot.
    await sandbox_.wait_for(
        lambda: members(sandbox_.clients, center, group), "the membership made after the kill"
    )

    active = await world.finish(request)

    assert await members(sandbox_.clients, center, group) == [world.users["alice"]]

    async def gone() -> bool:
        return await members(sandbox_.clients, center, group) == []

    await world.removed_on_time(active, gone)


async def test_a_request_shaped_permission_set_survives_two_kills_and_ends_on_time(
    world: World,
) -> None:
    sandbox_, center = world.sandbox, world.center
    bucket = sandbox_.accounts["development"].buckets[0]
    seeded_sets = sorted(await permission_set_names(sandbox_.clients, center))

    await sandbox_.request(account="development", login_role=None, resources=[bucket])
    name = request_set_name((await sandbox_.latest_request()).id)
    request = await world.approve_and_kill("sso", "CreatePermissionSet")
    assert name not in await permission_set_names(sandbox_.clients, center)

    async def made() -> bool:
        return name in await permission_set_names(sandbox_.clients, center)

    # The held call reaches AWS after the kill: the set exists, unrecorded by the bot.
    await sandbox_.wait_for(made, "the permission set made after the kill")
    await world.replace_and_kill("sso", "DescribeAccountAssignmentCreationStatus")

    active = await world.finish(request)

    names = await permission_set_names(sandbox_.clients, center)
    assert sorted(names) == sorted([*seeded_sets, name])
    arn = await IdentityCenter(sandbox_.clients).find_permission_set(center, name)
    held = await assignments(sandbox_.clients, center, ACCOUNTS["development"], arn)
    assert [a["PrincipalId"] for a in held] == [world.users["alice"]]

    async def gone() -> bool:
        return sorted(await permission_set_names(sandbox_.clients, center)) == seeded_sets

    await world.removed_on_time(active, gone)
