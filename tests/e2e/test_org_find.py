"""``/request find`` over the accounts AWS Organizations lists, not only the file's: bounded
(never one role assumption per account of a large organisation), the person's recent accounts
first, narrowed with ``in <text>``, and keeping its visibility rule."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.config import BotConfig
from cloud_access_bot.slack import commands
from cloud_access_bot_sandbox.organizations import READER_ROLE, SeedAccount, seed_organization
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_workspace import Ephemeral
from tests.e2e.test_commands import FIND_TIMEOUT

BOB, _ = APPROVERS
CAP = 3
TREE = [
    *(SeedAccount(f"data-{n}", "/Workloads/Data", {"team": "data"}) for n in range(4)),
    SeedAccount("ledger", "/Workloads/Ledger", {"team": "finance"}),
]


def org_config(**extra: object) -> BotConfig:
    return sandbox_config(
        organizations={
            "iam_role": READER_ROLE,
            "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
        },
        **extra,
    )


@pytest.fixture
async def org_world(
    aws: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Sandbox, dict[str, str]]]:
    monkeypatch.setattr(commands, "MAX_FIND_ACCOUNTS", CAP)
    async with sandbox(clock=clock, start=False) as world:
        ids = await seed_organization(world.clients, TREE)
        role = f"arn:aws:iam::{ids['ledger']}:role/cloud-access-bot"
        async with world.clients.assumed("dynamodb", role, "eu-west-1") as dynamodb:
            await dynamodb.create_table(
                TableName="ledger-exports",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        world.config = org_config(find_visibility="public")
        await world.start_bot()
        yield world, ids
        assert not world.emulator.problems, world.emulator.problems


async def find(world: Sandbox, text: str, user: str = REQUESTER) -> list[Ephemeral]:
    """Every answer to ``/request find <text>`` up to its summary line."""
    before = len(world.emulator.ephemerals_to(user))
    await world.emulator.slash_command(user, "/request", f"find {text}")

    def answered() -> list[Ephemeral] | None:
        answers = world.emulator.ephemerals_to(user)[before:]
        done = any(
            a.text.startswith(("Searched", "None of the accounts", "`find` searches"))
            or "\nSearched" in a.text
            for a in answers
        )
        return answers if done else None

    found: list[Ephemeral] = await world.emulator.wait_until(answered, timeout=FIND_TIMEOUT)
    return found


async def test_find_reaches_a_discovered_account_and_is_bounded(
    org_world: tuple[Sandbox, dict[str, str]],
) -> None:
    world, ids = org_world
    everywhere = await find(world, "ledger-exports")
    summary = everywhere[-1].text.splitlines()[-1]
    # 2 file accounts, 5 discovered and the management account: 8 qualify, 3 are searched.
    assert summary.startswith(f"Searched {CAP} account(s)")
    assert f"8 accounts qualify; the first {CAP} were searched" in summary

    narrowed = await find(world, "ledger-exports in ledger")
    shown = " ".join(a.flat_text for a in narrowed)
    assert "table/ledger-exports" in shown and ids["ledger"] in shown
    assert narrowed[-1].text.splitlines()[-1].startswith("Searched 1 account(s)")

    by_ou = await find(world, "ledger-exports in /workloads/ledger")
    assert "table/ledger-exports" in " ".join(a.flat_text for a in by_ou)
    nowhere = await find(world, "ledger-exports in no-such-account")
    assert nowhere[-1].text == "None of the accounts you may search matches `no-such-account`."


async def test_find_keeps_its_visibility_rule_over_discovered_accounts(
    org_world: tuple[Sandbox, dict[str, str]],
) -> None:
    world, _ = org_world
    world.config = org_config()
    nothing = await find(world, "ledger-exports in ledger")
    assert nothing[-1].text == commands.NOTHING_TO_FIND  # alice approves nothing yet
    approver = await find(world, "ledger-exports in ledger", user=BOB)
    assert "table/ledger-exports" in " ".join(a.flat_text for a in approver)
