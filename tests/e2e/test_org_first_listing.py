"""A slow first AWS Organizations listing (thousands of accounts, throttled) does not keep the
bot off Slack: ``start`` waits a bounded time, connects, and the accounts join when the
listing completes."""

from __future__ import annotations

import pytest

from cloud_access_bot import runtime as runtime_module
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.organizations import READER_ROLE, SeedAccount, seed_organization
from cloud_access_bot_sandbox.scenario import ManualClock, sandbox, sandbox_config

WAIT_S = 0.5
CALL_DELAY_S = 1.0  # the tree walk is at least four calls one after another: > 4 s


async def test_a_slow_first_listing_finishes_after_the_bot_connected(
    aws: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "FIRST_LISTING_WAIT_S", WAIT_S)
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    async with sandbox(clock=clock, start=False) as world:
        await seed_organization(world.clients, [SeedAccount("slow-one", "/Workloads", {})])
        proxy.inject("delay", "organizations", times=None, seconds=CALL_DELAY_S)
        direct, world.clients = (
            world.clients,
            AwsClients(region="eu-west-1", endpoint_url=proxy.endpoint),
        )
        world.config = sandbox_config(
            organizations={
                "iam_role": READER_ROLE,
                "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            }
        )
        try:
            runtime = await world.start_bot()  # connected: it did not wait for the listing
            assert "slow-one" not in runtime.accounts.config().accounts
            assert "development" in runtime.accounts.config().accounts  # the file's work

            async def listed() -> bool:
                return "slow-one" in runtime.accounts.config().accounts

            await world.wait_for(listed, "the listing to complete", timeout=30)
        finally:
            await direct.close()
    await proxy.stop()
