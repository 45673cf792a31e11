"""Routing by what is asked, through the emulator and moto: rules on access levels decide how
many approvals a request needs, from whom, and whether it is auto-approved — at submit and
again at the click."""

from __future__ import annotations

from typing import Any

from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, Sandbox, sandbox_config

BOB, CAROL = APPROVERS

WRITE_IN_PRODUCTION: dict[str, Any] = {
    "description": "Write in production",
    "match": {"name": "production", "access_levels": ["Write"]},
    "set": {"approvals_required": 2, "approval_groups": ["sre"]},
}
READ_IN_DEV: dict[str, Any] = {
    "description": "List/Read in dev",
    "match": {"name": "development", "access_levels": ["List", "Read"]},
    "set": {"auto_approve": True},
}


def configure(world: Sandbox, *rules: dict[str, Any]) -> None:
    """Reload the running bot's configuration (it reads it live, like an S3 config change)."""
    world.config = sandbox_config(rules=list(rules))


def table(world: Sandbox, account: str) -> str:
    region, name = world.accounts[account].tables[0]
    return f"arn:aws:dynamodb:{region}:{world.accounts[account].account_id}:table/{name}"


def table_request(world: Sandbox, account: str, *actions: str, duration: int = 1) -> dict[str, Any]:
    """The modal's fields for ``actions`` on the account's table."""
    return {
        "account": account,
        "service": "dynamodb",
        "actions": list(actions),
        "arns": [table(world, account)],
        "duration": duration,
    }


async def ask(world: Sandbox, account: str, *actions: str, duration: int = 1) -> str:
    request = await world.submit(**table_request(world, account, *actions, duration=duration))
    return request.id


async def test_a_write_in_production_needs_two_approvals_from_sre_and_the_card_says_why(
    world: Sandbox,
) -> None:
    world.emulator.add_usergroup("sre", list(APPROVERS), name="SRE")
    configure(world, WRITE_IN_PRODUCTION, READ_IN_DEV)
    request_id = await ask(world, "production", "dynamodb:GetItem", "dynamodb:PutItem")

    dm = await world.approval_dm(BOB, request_id)
    assert "Rule: Write in production: needs 2 approvals from @sre" in dm.flat_text
    await world.click(BOB, dm, views.APPROVE_ACTION)
    await world.emulator.wait_for_message(BOB, lambda m: "1 of 2 approvals" in m.text)
    waiting = await world.runtime.store.get(request_id)
    assert waiting is not None and waiting.status is Status.PENDING

    await world.click(CAROL, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)
    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert set(active.approvals) == {BOB, CAROL}
    assert active.routing_rules == ("Write in production: needs 2 approvals from @sre",)
    requested = (await world.runtime.store.events(request_id))[0]
    assert requested.details["rules"] == ["Write in production: needs 2 approvals from @sre"]


async def test_the_full_request_modal_names_the_rule_too(world: Sandbox) -> None:
    world.emulator.add_usergroup("sre", list(APPROVERS), name="SRE")
    configure(world, WRITE_IN_PRODUCTION)
    request_id = await ask(world, "production", "dynamodb:PutItem")

    await world.click(BOB, await world.approval_dm(BOB, request_id), views.SHOW_FULL_ACTION)
    modal = await world.emulator.wait_for_view(BOB, views.FULL_REQUEST_CALLBACK)
    assert "Rule: Write in production: needs 2 approvals from @sre" in str(modal.blocks)


async def test_only_the_groups_a_rule_names_approve_what_it_matches(world: Sandbox) -> None:
    world.emulator.add_usergroup("sre", [CAROL], name="SRE")
    configure(world, {**WRITE_IN_PRODUCTION, "set": {"approval_groups": ["sre"]}})
    request_id = await ask(world, "production", "dynamodb:PutItem")
    await world.approval_dm(CAROL, request_id)

    # bob approves for the account (@devops) but is not in @sre: he is not asked, and a click
    # sent as his from carol's card is refused.
    assert not any(request_id in m.flat_text for m in world.emulator.messages_to(BOB))
    stored = await world.runtime.store.get(request_id)
    assert stored is not None and stored.approvers == (CAROL,)
    # A click in carol's DM sent as bob: what a forged block_actions payload looks like.
    await world.click(BOB, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)
    await world.emulator.wait_for_message(
        BOB, lambda m: "Only members of the approval groups for production (@sre)" in m.text
    )
    stored = await world.runtime.store.get(request_id)
    assert stored is not None and stored.status is Status.PENDING and stored.approvals == ()


async def test_a_list_read_request_in_dev_is_auto_approved_by_the_rule(world: Sandbox) -> None:
    configure(world, WRITE_IN_PRODUCTION, READ_IN_DEV)
    request_id = await ask(world, "development", "dynamodb:GetItem", "dynamodb:DescribeTable")

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.decided_by == "cloud-access-bot"
    assert active.decision_reason == "Auto-approved by rule List/Read in dev."
    events = await world.runtime.store.events(request_id)
    assert [e.type for e in events] == [
        EventType.REQUESTED,
        EventType.AUTO_APPROVED,
        EventType.GRANTED,
    ]
    assert active.policy_name in await inline_policies(world.clients, world.accounts["development"])


async def test_a_read_and_write_request_in_dev_is_not_auto_approved(world: Sandbox) -> None:
    configure(world, WRITE_IN_PRODUCTION, READ_IN_DEV)
    request_id = await ask(world, "development", "dynamodb:GetItem", "dynamodb:PutItem")

    dm = await world.approval_dm(BOB, request_id)
    assert "Approve" in dm.flat_text
    stored = await world.runtime.store.get(request_id)
    assert stored is not None and stored.status is Status.PENDING
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_a_rule_added_after_submit_makes_one_click_not_enough(world: Sandbox) -> None:
    world.emulator.add_usergroup("sre", list(APPROVERS), name="SRE")
    request_id = await ask(world, "production", "dynamodb:PutItem")
    dm = await world.approval_dm(BOB, request_id)
    configure(world, {**WRITE_IN_PRODUCTION, "set": {"approvals_required": 2}})

    await world.click(BOB, dm, views.APPROVE_ACTION)

    await world.emulator.wait_for_message(BOB, lambda m: "1 of 2 approvals" in m.text)
    stored = await world.runtime.store.get(request_id)
    assert stored is not None and stored.status is Status.PENDING
    assert stored.approvals_required == 2
    assert await inline_policies(world.clients, world.accounts["production"]) == {}
    await world.click(CAROL, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)


async def test_a_rule_that_needs_a_person_also_stops_the_global_auto_approve_list(
    world: Sandbox,
) -> None:
    world.config = sandbox_config(
        auto_approve=[{"accounts": ["development"], "access_levels": ["Read", "Write"]}],
        rules=[
            {
                "description": "Table writes",
                "match": {"actions": ["dynamodb:Put*"]},
                "set": {"approvals_required": 1},
            }
        ],
    )
    written = await ask(world, "development", "dynamodb:PutItem")
    read = await ask(world, "development", "dynamodb:GetItem")

    await world.wait_for_status(read, Status.ACTIVE)
    assert (
        "Rule: Table writes: needs 1 approval" in (await world.approval_dm(BOB, written)).flat_text
    )
    stored = await world.runtime.store.get(written)
    assert stored is not None and stored.status is Status.PENDING


async def test_a_rule_lowering_the_maximum_after_submit_caps_the_grant(world: Sandbox) -> None:
    request_id = await ask(world, "development", "dynamodb:PutItem", duration=60)
    dm = await world.approval_dm(BOB, request_id)
    configure(
        world,
        {"match": {"actions": ["dynamodb:Put*"]}, "set": {"max_duration_minutes": 15}},
    )

    await world.click(BOB, dm, views.APPROVE_ACTION)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.starts_at and active.expires_at
    assert (active.expires_at - active.starts_at).total_seconds() == 15 * 60
    await world.emulator.wait_for_message(BOB, lambda m: "is now 15 minutes" in m.text)


async def test_a_duration_over_a_rule_maximum_is_refused_in_the_modal_naming_the_rule(
    world: Sandbox,
) -> None:
    configure(
        world,
        {
            "description": "Table writes",
            "match": {"actions": ["dynamodb:Put*"]},
            "set": {"max_duration_minutes": 15},
        },
    )
    ack = await world.request(
        **table_request(world, "development", "dynamodb:PutItem", duration=60)
    )

    assert ack["response_action"] == "errors"
    assert "60 minutes is longer than the 15-minute maximum of rule Table writes" in str(
        ack["errors"]
    )
    assert await world.runtime.store.for_user(REQUESTER) == []
