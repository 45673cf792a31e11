"""Reconciliation with accounts from AWS Organizations, through the running bot: the frequent
pass checks the file's accounts and those a recent request names, the daily pass every
account, and both remove a grant no request accounts for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.domain.packing import grant_ends
from cloud_access_bot_sandbox.organizations import READER_ROLE, SeedAccount, seed_organization
from cloud_access_bot_sandbox.scenario import (
    LOGIN_ROLE,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)
from tests.factories import access_request
from tests.integration.target_account import create_role, inline_policies

TREE = [SeedAccount("asked-for", "/Workloads", {}), SeedAccount("never-asked", "/Workloads", {})]


@pytest.fixture
async def org_world(aws: str, clock: ManualClock) -> AsyncIterator[Sandbox]:
    async with sandbox(clock=clock, start=False) as world:
        await seed_organization(world.clients, TREE)
        world.config = sandbox_config(
            organizations={
                "iam_role": READER_ROLE,
                "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            }
        )
        await world.start_bot()
        yield world
        assert not world.emulator.problems, world.emulator.problems


async def orphan(world: Sandbox, account_name: str, request_id: str) -> None:
    """A grant of the bot's in ``account_name`` whose request record does not exist."""
    config = world.runtime.accounts.config()
    account = config.accounts[account_name]
    await create_role(world.clients, account, LOGIN_ROLE)
    now = world.clock()
    planted = access_request(
        id=request_id,
        account_name=account_name,
        account_id=account.account_number,
        login_role=LOGIN_ROLE,
    )
    granter = InlinePolicyGranter(world.clients, config.policy_name_prefix)
    await granter.grant(planted, account, now, now + timedelta(hours=1))


async def held(world: Sandbox, account_name: str) -> set[str]:
    account = world.runtime.accounts.config().accounts[account_name]
    return set(grant_ends((await inline_policies(world.clients, account, LOGIN_ROLE)).values()))


async def test_frequent_pass_checks_requested_accounts_and_the_daily_one_all(
    org_world: Sandbox,
) -> None:
    world = org_world
    config = world.runtime.accounts.config()
    await orphan(world, "asked-for", "aaaaaaaaaaa1")
    await orphan(world, "never-asked", "bbbbbbbbbbb1")
    asked = config.accounts["asked-for"]
    await world.runtime.store.create(
        access_request(
            id="ccccccccccc1",
            account_name="asked-for",
            account_id=asked.account_number,
            created_at=world.clock() - timedelta(days=2),
        ),
        "U1",
        {},
    )

    assert await world.runtime.reconcile(every_account=False) == 1
    assert await held(world, "asked-for") == set()
    assert await held(world, "never-asked") == {"bbbbbbbbbbb1"}

    assert await world.runtime.reconcile(every_account=True) == 1
    assert await held(world, "never-asked") == set()
