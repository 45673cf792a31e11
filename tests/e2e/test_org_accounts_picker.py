"""Accounts from AWS Organizations in the request modal: the picker searches and ranks them
over Socket Mode, and never drops accounts silently."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.domain.model import Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.organizations import READER_ROLE, SeedAccount, seed_organization
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)

#: 150 accounts in 3 OUs: more than one select can hold.
TREE = [
    SeedAccount(f"{team}-{n:02d}", f"/Workloads/{ou}", {"team": team, "env": ou.lower()})
    for ou, team in (("Prod", "payments"), ("Dev", "search"), ("Data", "analytics"))
    for n in range(50)
]


@pytest.fixture
async def org_world(aws: str, clock: ManualClock) -> AsyncIterator[tuple[Sandbox, dict[str, str]]]:
    async with sandbox(clock=clock, start=False) as world:
        ids = await seed_organization(world.clients, TREE)
        file_config = sandbox_config(
            organizations={
                "iam_role": READER_ROLE,
                "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            },
            rules=[{"match": {"ou": "/Workloads/Prod"}, "set": {"production": True}}],
            admin_groups=["devops"],
        )
        world.config = file_config  # the bot lists the organisation itself when it starts
        runtime = await world.start_bot()
        # Let the first sweep finish so acks measure the picker (its reconcile, in the
        # background, checks only the file's accounts: no discovered one has a request).
        await world.emulator.wait_until(
            lambda: runtime.health.last_sweep_at is not None, 60, "the first sweep"
        )
        yield world, ids
        assert not world.emulator.problems, world.emulator.problems


def labels(answer: dict[str, object]) -> list[str]:
    groups = answer.get("option_groups") or [answer]
    return [o["text"]["text"] for g in groups for o in g["options"]]  # type: ignore[attr-defined]


async def test_the_picker_searches_ranks_and_says_when_it_holds_only_some(
    org_world: tuple[Sandbox, dict[str, str]],
) -> None:
    world, ids = org_world
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)

    everything = await modal.suggest(views.ACCOUNT_ACTION, "")
    total = len(TREE) + 3  # the two file accounts and the management account
    assert everything["option_groups"][0]["label"]["text"] == (
        f"100 of {total} accounts: type to narrow"
    )

    by_ou = labels(await modal.suggest(views.ACCOUNT_ACTION, "workloads/data"))
    assert len(by_ou) == 50 and all(label.startswith("analytics-") for label in by_ou)
    by_tag = labels(await modal.suggest(views.ACCOUNT_ACTION, "team=search"))
    assert len(by_tag) == 50 and all(label.startswith("search-") for label in by_tag)

    wanted = ids["payments-07"]
    by_id = labels(await modal.suggest(views.ACCOUNT_ACTION, wanted))
    assert by_id == [f"payments-07 – {wanted} · /Workloads/Prod"]
    named = labels(await modal.suggest(views.ACCOUNT_ACTION, "payments-07"))
    assert named[0].startswith("payments-07 – ")

    await modal.select(views.ACCOUNT_ACTION, "payments-07")
    await modal.wait_updated()
    assert modal.options(views.LOGIN_ROLE_ACTION)  # the cascade goes on for a discovered account
    # The rule for /Workloads/Prod made it a production account: the modal says so.
    assert "Production account" in modal.text


async def test_recent_accounts_come_first(org_world: tuple[Sandbox, dict[str, str]]) -> None:
    world, _ids = org_world
    bucket = world.accounts["development"].buckets[0]
    ack = await world.request(account="development", resources=[bucket])
    assert ack.get("response_action") != "errors", ack
    assert (await world.latest_request()).account_name == "development"
    previous = world.emulator.top_view(REQUESTER)
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(
        REQUESTER, views.REQUEST_CALLBACK, other_than=previous
    )
    first = labels(await modal.suggest(views.ACCOUNT_ACTION, ""))[0]
    assert first.startswith("development (acme-development)")


async def test_an_admin_refreshes_the_list_on_demand(
    org_world: tuple[Sandbox, dict[str, str]],
) -> None:
    """It also reads every account's tags again, where a periodic refresh reads a sixth of
    them: the account tagged here has the highest id, the last a periodic one would pick."""
    world, ids = org_world
    before = len(world.runtime.accounts.config().accounts)
    retagged = max(ids, key=ids.__getitem__)
    async with world.clients.client("organizations", "us-east-1") as org:
        await org.create_account(Email="new@example.com", AccountName="newcomer")
        await org.tag_resource(
            ResourceId=ids[retagged], Tags=[{"Key": "team", "Value": "platform"}]
        )

    async def answer(user: str) -> str:
        seen = len(world.emulator.ephemerals_to(user))
        await world.emulator.slash_command(user, "/request", "accounts refresh")
        found = await world.emulator.wait_until(
            lambda: world.emulator.ephemerals_to(user)[seen:], 30, "an answer"
        )
        return found[0].text

    refused = await answer(REQUESTER)
    assert "Only members of the admin groups" in refused
    assert "newcomer" not in world.runtime.accounts.config().accounts
    done = await answer(APPROVERS[0])
    assert done == f"Listed AWS Organizations again: the bot offers {before + 1} accounts."
    assert "newcomer" in world.runtime.accounts.config().accounts
    assert world.runtime.accounts.config().accounts[retagged].tags["team"] == "platform"


async def test_a_name_that_now_means_another_account_is_never_granted(world: Sandbox) -> None:
    """Asked for development (111111111111); by approval time the name points at
    222222222222 (a renamed or re-listed account): the approval is refused by account number,
    nothing is written there."""
    bucket = world.accounts["development"].buckets[0]
    ack = await world.request(account="development", resources=[bucket])
    assert ack.get("response_action") != "errors", ack
    request = await world.latest_request()
    moved = world.config.model_dump()
    moved["accounts"]["development"] = moved["accounts"]["production"] | {
        "account_alias": "acme-development"
    }
    del moved["accounts"]["production"]
    world.config = type(world.config).model_validate(moved)
    card = await world.approval_dm(APPROVERS[0], request.id)
    await world.click(APPROVERS[0], card, views.APPROVE_ACTION)
    await world.emulator.wait_for_message(
        APPROVERS[0], lambda m: "111111111111 (development) is no longer configured" in m.text
    )
    stored = await world.runtime.store.get(request.id)
    assert stored is not None and stored.status is Status.PENDING
    assert await inline_policies(world.clients, world.accounts["production"]) == {}
