"""Approval rules through the emulator: every click is checked against stored state and rules."""

from __future__ import annotations

import copy
from typing import Any

from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_people import action_json, find_element, message_action_payload

BOB, CAROL = APPROVERS
DAVE = "U0DAVE"


def configure(world: Sandbox, **overrides: Any) -> None:
    """Change the running bot's configuration (the runtime reads it live)."""
    world.config = sandbox_config(**overrides)


async def pending_request(world: Sandbox) -> str:
    return (await world.submit(resources=[world.accounts["development"].buckets[0]])).id


async def status_of(world: Sandbox, request_id: str) -> Status:
    request = await world.runtime.store.get(request_id)
    assert request is not None
    return request.status


async def event_types(world: Sandbox, request_id: str) -> list[EventType]:
    return [e.type for e in await world.runtime.store.events(request_id)]


async def test_requester_cannot_approve_own_request(world: Sandbox) -> None:
    world.emulator.set_usergroup_members("devops", [*APPROVERS, REQUESTER])
    request_id = await pending_request(world)
    assert not any("Approve" in m.flat_text for m in world.emulator.messages_to(REQUESTER)), (
        "the requester must not be asked to approve"
    )

    await world.click(REQUESTER, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)

    await world.emulator.wait_for_message(REQUESTER, lambda m: "own request" in m.text)
    assert await status_of(world, request_id) is Status.PENDING
    assert await event_types(world, request_id) == [EventType.REQUESTED]


async def test_break_glass_self_approval_is_announced_and_flagged(world: Sandbox) -> None:
    audit = world.emulator.add_channel("access-audit")
    configure(world, self_approval="break_glass", audit_channel=audit)
    world.emulator.set_usergroup_members("devops", [*APPROVERS, REQUESTER])
    request_id = await pending_request(world)
    mine = await world.emulator.wait_for_message(REQUESTER, lambda m: "Break glass" in m.flat_text)

    await world.click(REQUESTER, mine, views.BREAK_GLASS_ACTION)
    modal = await world.emulator.wait_for_view(REQUESTER, views.BREAK_GLASS_CALLBACK)
    await modal.fill(views.REASON_INPUT, "Prod is down and the on-call approvers are asleep")
    await modal.submit()

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.decided_by == REQUESTER
    approved = [
        e for e in await world.runtime.store.events(request_id) if e.type is EventType.APPROVED
    ]
    assert approved[0].details["break_glass"] is True
    assert "on-call approvers are asleep" in approved[0].details["reason"]
    posts = world.emulator.messages_in(audit)
    assert any("Break-glass" in m.text and REQUESTER in m.text for m in posts)
    # The channel's one message about the request follows it through its lifecycle.
    about = [m for m in posts if request_id in m.flat_text and m.blocks]
    assert len(about) == 1
    await world.emulator.wait_until(lambda: "Active until" in about[0].flat_text)


async def test_member_removed_after_the_dm_is_refused(world: Sandbox) -> None:
    request_id = await pending_request(world)
    dm = await world.approval_dm(BOB, request_id)
    world.emulator.set_usergroup_members("devops", [CAROL])

    await world.click(BOB, dm, views.APPROVE_ACTION)

    await world.emulator.wait_for_message(
        BOB, lambda m: "Only members" in m.text and "devops" in m.text
    )
    assert await status_of(world, request_id) is Status.PENDING


async def test_two_of_three_needs_two_different_people(world: Sandbox) -> None:
    world.emulator.workspace.add_user(DAVE, name="dave", email="dave@example.com")
    world.emulator.set_usergroup_members("devops", [*APPROVERS, DAVE])
    configure(world, approvals_required=2)
    request_id = await pending_request(world)
    bob_dm = await world.approval_dm(BOB, request_id)

    await world.click(BOB, bob_dm, views.APPROVE_ACTION)
    await world.emulator.wait_until(
        lambda: "1 of 2" in world.emulator.messages_to(DAVE)[0].flat_text
    )
    await world.click(BOB, bob_dm, views.APPROVE_ACTION)
    await world.emulator.wait_for_message(BOB, lambda m: "already approved" in m.text)
    assert await status_of(world, request_id) is Status.PENDING

    await world.click(CAROL, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)
    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert set(active.approvals) == {BOB, CAROL}
    assert await event_types(world, request_id) == [
        EventType.REQUESTED,
        EventType.APPROVAL_ADDED,
        EventType.APPROVED,
        EventType.GRANTED,
    ]


async def test_read_only_request_is_auto_approved_and_audited(world: Sandbox) -> None:
    configure(
        world,
        auto_approve=[
            {
                "accounts": ["development"],
                "access_levels": ["List", "Read"],
                "max_duration_minutes": 60,
            }
        ],
    )
    request_id = await pending_request(world)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.decided_by == "cloud-access-bot"
    assert await event_types(world, request_id) == [
        EventType.REQUESTED,
        EventType.AUTO_APPROVED,
        EventType.GRANTED,
    ]
    assert active.policy_name in await inline_policies(world.clients, world.accounts["development"])
    assert not any("Approve" in m.flat_text for m in world.emulator.messages_to(BOB))

    # The requester's message is the one an approved grant has: they end it when done.
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: request_id in m.flat_text and "I'm done – revoke" in m.flat_text
    )
    assert "Extend…" in mine.flat_text
    await world.click(REQUESTER, mine, views.REVOKE_ACTION)
    await world.wait_for_status(request_id, Status.REVOKED)
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_forgotten_request_times_out(world: Sandbox, clock: ManualClock) -> None:
    configure(world, pending_timeout_minutes=60, reminder_minutes=[10])
    request_id = await pending_request(world)
    await world.approval_dm(BOB, request_id)

    clock.advance(minutes=11)
    await world.emulator.wait_for_message(BOB, lambda m: "Reminder" in m.text)
    clock.advance(minutes=50)
    await world.wait_for_status(request_id, Status.TIMED_OUT)

    await world.emulator.wait_for_message(REQUESTER, lambda m: "Timed out" in m.text)
    bob_dm = world.emulator.messages_to(BOB)[0]
    await world.emulator.wait_until(lambda: "Timed out" in bob_dm.flat_text)
    assert await event_types(world, request_id) == [
        EventType.REQUESTED,
        EventType.REMINDED,
        EventType.TIMED_OUT,
    ]


async def test_forged_button_value_changes_nothing(world: Sandbox) -> None:
    request_id = await pending_request(world)
    dm = await world.approval_dm(BOB, request_id)
    block, element = find_element(dm.blocks, views.APPROVE_ACTION)
    forged = dict(copy.deepcopy(element), value="ffffffffffff")
    workspace = world.emulator.workspace
    payload = message_action_payload(
        workspace,
        BOB,
        dm,
        action_json(block, forged),
        trigger_id=workspace.issue_trigger(BOB),
        response_url="",
    )

    await world.emulator.send_envelope("interactive", payload)

    await world.emulator.wait_for_message(BOB, lambda m: "does not exist" in m.text)
    assert await status_of(world, request_id) is Status.PENDING


async def test_replayed_envelope_grants_once(world: Sandbox) -> None:
    request_id = await pending_request(world)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    click = world.emulator.envelopes[-1]
    await world.wait_for_status(request_id, Status.ACTIVE)

    await world.emulator.send_envelope(
        click["type"], click["payload"], envelope_id=click["envelope_id"]
    )

    await world.emulator.wait_for_message(BOB, lambda m: "already approved" in m.text)
    assert (await event_types(world, request_id)).count(EventType.APPROVED) == 1
    assert len(await inline_policies(world.clients, world.accounts["development"])) == 1


async def test_deactivated_and_departed_approvers_are_skipped(world: Sandbox) -> None:
    world.emulator.workspace.users[CAROL].deleted = True
    world.emulator.set_usergroup_members("devops", [BOB, CAROL, "U0GONE"])

    request_id = await pending_request(world)

    await world.approval_dm(BOB, request_id)
    stored = await world.runtime.store.get(request_id)
    assert stored is not None and stored.approvers == (BOB,)
    assert not any("Approve" in m.flat_text for m in world.emulator.messages_to(CAROL))


async def test_no_active_approver_is_told_at_submit_and_nothing_is_stored(world: Sandbox) -> None:
    world.emulator.set_usergroup_members("devops", [REQUESTER])

    ack = await world.request(resources=[world.accounts["development"].buckets[0]])

    assert ack.get("response_action") != "errors"
    await world.emulator.wait_for_message(REQUESTER, lambda m: "Nobody can approve" in m.text)
    assert await world.runtime.store.for_user(REQUESTER) == []
