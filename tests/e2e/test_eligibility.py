"""Who may ask, tickets and sensitive accounts, over Socket Mode: guests are refused, an
account's eligibility filters the picker and is enforced at submit, a ticket id must match
its pattern, and a production account shows its banner in the modal and on the card."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.eligibility import GUEST_REFUSED
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    LOGIN_ROLE,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_people import ViewHandle

GUEST = "U0GUEST"
WARNING = "Production: customer data"
RULES = [
    {
        "match": {"name": "production"},
        "set": {"ticket_pattern": "^(INC|CHG)-\\d+$", "warning": WARNING},
    },
]


@pytest.fixture
async def world(aws: str, clock: ManualClock) -> AsyncIterator[Sandbox]:
    async with sandbox(clock=clock, config=sandbox_config(rules=RULES)) as made:
        made.emulator.add_user(GUEST, "gus", "gus@example.com", guest="multi")
        yield made
        assert not made.emulator.problems, made.emulator.problems


async def open_modal(world: Sandbox, user: str) -> ViewHandle:
    previous = world.emulator.top_view(user)
    await world.emulator.slash_command(user, "/request")
    modal = await world.emulator.wait_for_view(user, views.REQUEST_CALLBACK, other_than=previous)
    await modal.fill(views.REASON_ACTION, "Investigate a failed export")
    await modal.select(views.DURATION_ACTION, "15")
    return modal


async def choose(modal: ViewHandle, world: Sandbox, account: str) -> None:
    """Pick ``account`` (as a forged option when the picker did not offer it), then the rest."""
    await modal.select(views.ACCOUNT_ACTION, views.option(account, account))
    await modal.wait_updated()
    await modal.select(views.LOGIN_ROLE_ACTION, LOGIN_ROLE)
    bucket = world.accounts[account].buckets[0]
    await world._fill_service(modal, "s3", None, ["s3:GetObject"], [bucket], [], _no_pause)


async def _no_pause() -> None:
    return None


def offered(answer: dict[str, object]) -> list[str]:
    return [o["value"] for o in answer.get("options", [])]  # type: ignore[attr-defined]


async def test_a_guest_is_offered_nothing_and_refused_at_submit(world: Sandbox) -> None:
    modal = await open_modal(world, GUEST)
    assert offered(await modal.suggest(views.ACCOUNT_ACTION, "")) == []
    await choose(modal, world, "development")  # a forged choice: the picker offered none
    await modal.submit()
    told = await world.emulator.wait_for_message(GUEST, lambda m: "not stored" in m.flat_text)
    assert GUEST_REFUSED in told.flat_text
    assert await world.runtime.store.for_user(GUEST) == []


async def test_eligibility_by_group_filters_the_picker_and_is_enforced(world: Sandbox) -> None:
    world.config = sandbox_config(
        rules=[
            {"match": {"name": "production"}, "set": {"eligibility": {"user_groups": ["devops"]}}}
        ]
    )
    alice = await open_modal(world, REQUESTER)
    assert offered(await alice.suggest(views.ACCOUNT_ACTION, "")) == ["development"]
    await choose(alice, world, "production")
    await alice.submit()
    told = await world.emulator.wait_for_message(REQUESTER, lambda m: "not stored" in m.flat_text)
    assert "Only members of devops may request access to this account." in told.flat_text
    assert await world.runtime.store.for_user(REQUESTER) == []

    bob = await open_modal(world, APPROVERS[0])
    assert offered(await bob.suggest(views.ACCOUNT_ACTION, "")) == ["development", "production"]


async def test_a_ticket_must_match_and_lands_on_the_card_and_in_the_audit(world: Sandbox) -> None:
    modal = await open_modal(world, REQUESTER)
    await choose(modal, world, "production")
    assert WARNING in modal.text
    await modal.fill(views.TICKET_ACTION, "fixing stuff")
    ack = await modal.submit()
    assert ack["response_action"] == "errors"
    assert "'fixing stuff' does not match ^(INC|CHG)-\\d+$" in " ".join(ack["errors"].values())
    assert await world.runtime.store.for_user(REQUESTER) == []

    await modal.fill(views.TICKET_ACTION, "CHG-4711")
    ack = await modal.submit()
    assert ack.get("response_action") != "errors", ack
    request = await world.latest_request()
    assert request.ticket == "CHG-4711"
    card = await world.approval_dm(APPROVERS[0], request.id)
    assert WARNING in card.flat_text and "CHG-4711" in card.flat_text
    events = await world.runtime.store.events(request.id)
    assert events[0].details["ticket"] == "CHG-4711"


async def test_an_account_without_rules_shows_no_banner_and_no_ticket(world: Sandbox) -> None:
    modal = await open_modal(world, REQUESTER)
    await choose(modal, world, "development")
    assert WARNING not in modal.text and "Ticket or change id" not in modal.text
