"""Attacks across this round's features (several accounts, approver entries, routing,
scheduled starts, usage review), through real Socket Mode, the emulator and moto: each test is
one way a person might get more than the people who had to decide agreed to."""

from __future__ import annotations

from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import batch_views, views
from cloud_access_bot_sandbox.scenario import ACCOUNTS, APPROVERS, Sandbox, sandbox_config
from cloud_access_bot_sandbox.slack_people import action_json, find_element, message_action_payload
from cloud_access_bot_sandbox.slack_workspace import Message
from tests.e2e import test_approvers, test_routing
from tests.e2e.test_approval_trust import _approvals, pending, told
from tests.e2e.test_multi_account import account_entry, batch_of, card, with_accounts

BOB, CAROL = APPROVERS
BOB_OPS = "U0BOBOPS"
GUEST = "U0GUEST"
PARTNER = "U0PARTNER"
DAVE = "U0DAVE"


async def test_one_approver_under_two_slack_accounts_counts_once(world: Sandbox) -> None:
    """Two of N means two people: Bob's second Slack account (bob+ops@) is Bob."""
    world.emulator.add_user(BOB_OPS, name="bob-ops", email="Bob+ops@example.com")
    world.emulator.set_usergroup_members("devops", [*APPROVERS, BOB_OPS])
    world.config = sandbox_config(approvals_required=2)
    request_id = await pending(world)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.wait_for(lambda: _approvals(world, request_id, 1), "Bob's approval")

    await world.click(BOB_OPS, await world.approval_dm(BOB_OPS, request_id), views.APPROVE_ACTION)

    await told(world, BOB_OPS, "already approved")
    stored = await world.runtime.store.get(request_id)
    assert stored is not None and stored.status is Status.PENDING
    assert stored.approvals == (BOB,)
    await world.click(CAROL, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)
    granted = await world.wait_for_status(request_id, Status.ACTIVE)
    assert granted.decided_by == CAROL
    types = [e.type for e in await world.runtime.store.events(request_id)]
    assert types.count(EventType.APPROVAL_ADDED) == 1


async def test_a_guest_in_an_approvers_channel_is_no_approver(world: Sandbox) -> None:
    """A channel named in ``approvers`` lends its full members, not a guest invited there nor
    a person of another organisation sharing it (Slack Connect)."""
    workspace = world.emulator.workspace
    workspace.add_user(GUEST, name="vendor", email="v@vendor.example", guest="multi")
    workspace.add_user(PARTNER, name="partner", email="p@partner.example", team="T0PARTNER")
    world.emulator.add_channel("prod-approvers", [GUEST, PARTNER, CAROL], private=True)
    test_approvers.configure(world, development={"approvers": ["#prod-approvers"]})
    request_id = await test_approvers.pending(world)
    request = await world.store.get(request_id)
    assert request is not None and request.approvers == (CAROL,)

    # A crafted block_actions: Carol's Approve button, sent as the guest and the partner.
    for outsider in (GUEST, PARTNER):
        await world.click(
            outsider, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION
        )
        await test_approvers.told(world, outsider, "you are not (or no longer) one of them")
    stored = await world.store.get(request_id)
    assert stored is not None and stored.status is Status.PENDING
    assert [e.type for e in await world.store.events(request_id)] == [EventType.REQUESTED]


async def test_a_batch_tells_the_people_every_account_notifies(world: Sandbox) -> None:
    """``notify`` is an account's oversight: picking another account first must not skip it."""
    world.emulator.workspace.add_user(DAVE, name="dave", email="dave@example.com")
    watch = world.emulator.add_channel("prod-watch", [])
    await with_accounts(
        world,
        production=account_entry(ACCOUNTS["production"], notify=[DAVE, "#prod-watch"]),
    )
    requests = await batch_of(
        world,
        also_accounts=["production"],
        resources=["acme-development-exports", "acme-production-exports"],
    )

    batch_id = requests[0].id
    copy = await world.emulator.wait_for_message(DAVE, lambda m: batch_id in m.flat_text)
    assert "production" in copy.flat_text and "Approve" not in copy.flat_text

    async def posted() -> bool:
        return any(batch_id in m.flat_text for m in world.emulator.messages_in(watch))

    await world.wait_for(posted, "the card in #prod-watch")


async def test_padding_a_write_with_a_read_does_not_hand_it_to_the_read_rules_group(
    world: Sandbox,
) -> None:
    """A rule lets ``oncall`` approve reads in production; Dave (oncall, not devops) must not
    approve a Write that comes with a Read."""
    world.emulator.workspace.add_user(DAVE, name="dave", email="dave@example.com")
    world.emulator.add_usergroup("oncall", [DAVE, CAROL], name="On call")
    reads = {
        "description": "Reads in production",
        "match": {"name": "production", "access_levels": ["List", "Read"]},
        "set": {"approval_groups": ["oncall"]},
    }
    test_routing.configure(world, reads)
    request_id = await test_routing.ask(
        world, "production", "dynamodb:GetItem", "dynamodb:DeleteTable"
    )
    request = await world.store.get(request_id)
    assert request is not None and request.approvers == (CAROL,)  # in oncall and devops

    carol_dm = await world.approval_dm(CAROL, request_id)
    assert "the account's approvers (@devops) approve too" in carol_dm.flat_text
    await world.click(DAVE, carol_dm, views.APPROVE_ACTION)
    await test_approvers.told(world, DAVE, "approval groups for production (@oncall, @devops)")
    stored = await world.store.get(request_id)
    assert stored is not None and stored.status is Status.PENDING
    await world.click(CAROL, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)
    assert (await world.wait_for_status(request_id, Status.ACTIVE)).decided_by == CAROL


async def test_a_forged_batch_button_naming_a_lone_request_or_garbage_decides_nothing(
    world: Sandbox,
) -> None:
    """The batch card's Approve, its value replaced by another (lone) request's id or by
    garbage, approves nothing and says so."""
    await with_accounts(world)
    requests = await batch_of(
        world,
        also_accounts=["production"],
        resources=["acme-development-exports", "acme-production-exports"],
    )
    lone = await pending(world)
    bob_card = await card(world, BOB, requests[0].id)
    for count, value in enumerate((lone, "x" * 3000), start=1):
        await forged_click(world, BOB, bob_card, batch_views.APPROVE_BATCH_ACTION, value)

        async def refused(count: int = count) -> bool:
            texts = [m.text for m in world.emulator.messages_to(BOB)]
            return sum("does not exist" in t for t in texts) >= count

        await world.wait_for(refused, f"refusal {count}")
    for request_id in (lone, *(r.id for r in requests)):
        stored = await world.store.get(request_id)
        assert stored is not None and stored.status is Status.PENDING


async def forged_click(
    world: Sandbox, user: str, message: Message, action: str, value: str
) -> None:
    """A crafted block_actions: the button ``action`` of ``message``, its value replaced."""
    block, element = find_element(message.blocks, action)
    workspace = world.emulator.workspace
    payload = message_action_payload(
        workspace,
        user,
        message,
        action_json(block, {**element, "value": value}),
        trigger_id=workspace.issue_trigger(user),
        response_url="",
    )
    await world.emulator.send_envelope("interactive", payload)
