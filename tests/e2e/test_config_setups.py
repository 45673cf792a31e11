"""The three set-ups docs/organizations.md describes, each from its own file: perkbox's config
unchanged, today's config.example.yml, and docs/examples/organizations.yml (accounts from AWS
Organizations by OU). Each passes check-config and grants a request end to end over Socket
Mode, in an account prepared as its operator would (the bot's role, a login role, a bucket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.cli import main
from cloud_access_bot.config import BotConfig, parse_config
from cloud_access_bot.domain.model import Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.organizations import SeedAccount, seed_organization
from cloud_access_bot_sandbox.scenario import APPROVERS, ManualClock, Sandbox, sandbox
from tests.unit.test_config import PERKBOX

REPO = Path(__file__).resolve().parents[2]
BOB, _ = APPROVERS
TREE = [
    SeedAccount("search-dev", "/Workloads/Dev", {"team": "search"}),
    SeedAccount("search-prod", "/Workloads/Prod", {"team": "search"}),
    SeedAccount("closing-legacy", "/Workloads/Dev", {}),
]


@pytest.fixture
async def world(aws: str, clock: ManualClock) -> AsyncIterator[Sandbox]:
    async with sandbox(clock=clock, start=False) as made:
        yield made
        assert not made.emulator.problems, made.emulator.problems


async def prepare(clients: AwsClients, config: BotConfig, account: str, login_role: str) -> str:
    """The account as its operator sets it up; returns the bucket to ask for."""
    role = config.accounts[account].iam_role
    async with clients.assumed("iam", role) as iam:
        await iam.create_role(RoleName=login_role, AssumeRolePolicyDocument="{}")
    bucket = f"{account}-reports"
    async with clients.assumed("s3", role, "eu-west-1") as s3:
        await s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
    return bucket


async def granted(
    world: Sandbox, path: Path, account: str, login_role: str, *, auto_approved: bool = False
) -> None:
    """check-config passes on ``path``; a request in ``account`` ends ACTIVE, approved by an
    approver unless the file's auto-approval rules cover it."""
    assert await asyncio.to_thread(main, ["check-config", "--file", str(path)]) == 0
    config = parse_config(await asyncio.to_thread(path.read_text), str(path))
    await DynamoStore(world.clients, config.dynamodb_table).ensure_table()  # as Terraform does
    world.config = config
    runtime = await world.start_bot()
    effective = runtime.accounts.config()
    bucket = await prepare(world.clients, effective, account, login_role)
    request = await world.submit(
        account=account,
        login_role=login_role,
        resources=[bucket],
        duration=config.durations_minutes[0],
    )
    if not auto_approved:
        await world.click(BOB, await world.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    active = await world.wait_for_status(request.id, Status.ACTIVE, timeout=20)
    assert active.account_id == effective.accounts[account].account_number


async def test_perkbox_config_loads_unchanged_and_grants(world: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "perkbox.yml"
    path.write_text(PERKBOX)
    await granted(world, path, "perkbox-development", "SSO-Devops")


async def test_the_example_config_grants(world: Sandbox) -> None:
    # The channels it names, as its operator creates them and invites the bot.
    for channel in ("access-approvals", "access-requests", "dev-approvals", "dev-approvers"):
        world.emulator.workspace.add_channel(channel, [BOB])
    # Its auto_approve rule covers reading a listed bucket in acme-development for 15 min.
    await granted(
        world, REPO / "config.example.yml", "acme-development", "SSO-Developers", auto_approved=True
    )


async def test_the_organizations_example_lists_applies_rules_and_grants(world: Sandbox) -> None:
    await seed_organization(world.clients, TREE)
    path = REPO / "docs" / "examples" / "organizations.yml"
    await granted(world, path, "search-dev", "Developer")
    effective = world.runtime.accounts.config()
    assert "closing-legacy" not in effective.accounts
    assert effective.accounts["search-prod"].production
    assert effective.approvals_required_for("search-prod") == 2
    assert effective.max_duration_for("search-dev") == 240
