"""Approvers beyond user groups and approval channels, through the emulator over Socket Mode.

Approvers named by email and by channel membership approve; a person notified for
information sees the card without buttons and a forged click of theirs counts for nothing;
the fallback list is used when the group is empty, and a request nobody could decide is refused
at submit; an approval channel's card takes clicks from anyone in it but only an approver's
counts, and threads every step; an approver who left the approvers' channel after submission,
or joined the group after it, is refused.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot.slack.directory import check_groups
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    OUTSIDER,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_workspace import Message
from tests.e2e.test_grant_changes import request_extension

BOB, CAROL = APPROVERS
DAVE = "U0DAVE"
DAVE_EMAIL = "dave@example.com"


def configure(world: Sandbox, development: dict[str, Any] | None = None, **overrides: Any) -> None:
    """Run the bot with the sandbox's configuration, ``development`` keys added to that
    account (the runtime reads the configuration live)."""
    accounts = {
        name: {
            "account_number": number,
            "iam_role": f"arn:aws:iam::{number}:role/cloud-access-bot",
            **((development or {}) if name == "development" else {}),
        }
        for name, number in ACCOUNTS.items()
    }
    world.config = sandbox_config(accounts=accounts, **overrides)


def add_dave(world: Sandbox) -> None:
    world.emulator.workspace.add_user(DAVE, name="dave", email=DAVE_EMAIL)


async def pending(world: Sandbox) -> str:
    return (await world.submit(resources=[world.accounts["development"].buckets[0]])).id


async def told(world: Sandbox, user: str, words: str) -> Message:
    return await world.emulator.wait_for_message(user, lambda m: words in m.flat_text)


def about(messages: list[Message], request_id: str) -> list[Message]:
    return [m for m in messages if request_id in m.flat_text]


async def test_an_approver_named_by_email_approves(world: Sandbox) -> None:
    add_dave(world)
    configure(world, development={"approvers": [DAVE_EMAIL]})
    request_id = await pending(world)

    dave_dm = await world.approval_dm(DAVE, request_id)
    assert not about(world.emulator.messages_to(BOB), request_id), "devops is not asked here"
    await world.click(DAVE, dave_dm, views.APPROVE_ACTION)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.decided_by == DAVE
    assert active.approvers == (DAVE,)


async def test_a_member_of_an_approvers_channel_approves(world: Sandbox) -> None:
    add_dave(world)
    world.emulator.add_channel("prod-approvers", [DAVE, CAROL])
    configure(world, development={"approvers": ["#prod-approvers"]})
    request_id = await pending(world)

    request = await world.store.get(request_id)
    assert request is not None and set(request.approvers) == {DAVE, CAROL}  # not the bot
    await world.click(DAVE, await world.approval_dm(DAVE, request_id), views.APPROVE_ACTION)

    assert (await world.wait_for_status(request_id, Status.ACTIVE)).decided_by == DAVE


async def test_a_notified_person_sees_the_card_without_buttons_and_a_forged_click_is_refused(
    world: Sandbox,
) -> None:
    configure(world, notify=[OUTSIDER])
    request_id = await pending(world)
    bob_dm = await world.approval_dm(BOB, request_id)
    mallory_card = await world.emulator.wait_for_message(
        OUTSIDER, lambda m: request_id in m.flat_text
    )
    assert "Approve" not in mallory_card.flat_text and "Deny" not in mallory_card.flat_text

    # A crafted block_actions: the Approve button of Bob's card, sent as Mallory.
    await world.click(OUTSIDER, bob_dm, views.APPROVE_ACTION)

    await told(world, OUTSIDER, "Only members of the approval groups")
    request = await world.store.get(request_id)
    assert request is not None and request.status is Status.PENDING
    assert [e.type for e in await world.store.events(request_id)] == [EventType.REQUESTED]
    await world.click(BOB, bob_dm, views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)
    await world.emulator.wait_until(lambda: "Active until" in mallory_card.flat_text)
    assert "Approve" not in mallory_card.flat_text


async def dave_approves_as_the_fallback(world: Sandbox) -> None:
    """A request is sent to Dave, a fallback approver (so recorded), and he grants it."""
    request_id = await pending(world)

    await world.click(DAVE, await world.approval_dm(DAVE, request_id), views.APPROVE_ACTION)

    await world.wait_for_status(request_id, Status.ACTIVE)
    [requested, *_] = await world.store.events(request_id)
    assert requested.details["fallback_approvers"] is True


async def test_the_fallback_approvers_are_asked_when_the_group_is_empty(world: Sandbox) -> None:
    add_dave(world)
    world.emulator.set_usergroup_members("devops", [])
    configure(world, fallback_approvers=[DAVE])
    await dave_approves_as_the_fallback(world)


async def test_a_request_nobody_could_decide_is_refused_at_submit(world: Sandbox) -> None:
    world.emulator.set_usergroup_members("devops", [REQUESTER])  # only the requester
    configure(world, fallback_approvers=["#oncall"])
    world.emulator.add_channel("oncall", [])

    await world.request(resources=[world.accounts["development"].buckets[0]])

    refusal = await told(world, REQUESTER, "not stored")
    assert "Nobody can approve requests for development" in refusal.flat_text
    assert "fallback approvers (#oncall)" in refusal.flat_text
    assert await world.store.for_user(REQUESTER) == []


async def channel_only_request(world: Sandbox) -> tuple[str, str, Message]:
    """A request in development, whose card goes to #sre-approvals (bob, carol and an
    outsider are in it) and to nobody by DM: the channel, the request id and the card."""
    channel = world.emulator.add_channel("sre-approvals", [BOB, CAROL, OUTSIDER])
    configure(world, approval_channel="#sre-approvals", approval_dms=False)
    request_id = await pending(world)
    card = await world.emulator.wait_until(
        lambda: next(iter(about(world.emulator.messages_in(channel), request_id)), None)
    )
    return channel, request_id, card


async def test_an_approval_channel_counts_only_an_approvers_click_and_threads_each_step(
    world: Sandbox,
) -> None:
    channel, request_id, card = await channel_only_request(world)
    assert "Approve" in card.flat_text
    assert not about(world.emulator.messages_to(BOB), request_id), "no DM: approval_dms false"

    def refusals() -> list[str]:
        return [
            e.text
            for e in world.emulator.ephemerals_to(OUTSIDER)
            if e.channel == channel and "Only members of the approval groups" in e.text
        ]

    await world.click(OUTSIDER, card, views.APPROVE_ACTION)
    await world.emulator.wait_until(lambda: len(refusals()) == 1)
    await world.click(OUTSIDER, card, views.DENY_ACTION)
    await world.emulator.wait_until(lambda: len(refusals()) == 2)

    assert world.emulator.modal(OUTSIDER) is None, "no reason modal for a stranger's Deny"
    assert not card.history, "a refused click leaves the card as it was"
    assert (await world.store.events(request_id))[-1].type is EventType.REQUESTED

    await world.click(BOB, card, views.APPROVE_ACTION)

    await world.wait_for_status(request_id, Status.ACTIVE)
    await world.emulator.wait_until(lambda: "Active until" in card.flat_text)
    assert "Approve" not in card.flat_text

    def replies() -> list[str]:
        return [m.text for m in world.emulator.messages_in(channel) if m.thread_ts == card.ts]

    await world.emulator.wait_until(lambda: len(replies()) >= 2)
    assert any("Approved by <@U0BOB>" in r for r in replies())
    assert any("Active until" in r for r in replies())
    await told(world, REQUESTER, "Access granted")
    assert not about(world.emulator.messages_to(OUTSIDER), request_id), "told in the channel"


READ_ONLY_AUTO_APPROVED = [
    {"accounts": ["development"], "access_levels": ["List", "Read"], "max_duration_minutes": 60}
]


async def test_a_missing_approval_channel_refuses_only_a_request_a_person_must_decide(
    world: Sandbox,
) -> None:
    configure(world, approval_channel="#no-such-channel", approval_dms=False)
    await world.request(resources=[world.accounts["development"].buckets[0]])
    await told(world, REQUESTER, "#no-such-channel, which I cannot find")
    assert await world.store.for_user(REQUESTER) == []
    configure(
        world,
        approval_channel="#no-such-channel",
        approval_dms=False,
        auto_approve=READ_ONLY_AUTO_APPROVED,
    )

    request_id = await pending(world)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.decided_by == "cloud-access-bot"
    await told(world, REQUESTER, "Access granted")


async def test_an_extension_is_asked_in_the_approval_channel_under_the_requests_card(
    world: Sandbox,
) -> None:
    channel, request_id, card = await channel_only_request(world)
    await world.click(BOB, card, views.APPROVE_ACTION)
    before = await world.wait_for_status(request_id, Status.ACTIVE)

    await request_extension(world, request_id)

    ask = await world.emulator.wait_until(
        lambda: next(
            (
                m
                for m in world.emulator.messages_in(channel)
                if m.thread_ts == card.ts and "Approve extension" in m.flat_text
            ),
            None,
        )
    )
    assert "asks to extend" in ask.text
    assert not any("asks to extend" in m.text for m in world.emulator.messages_to(BOB))
    await world.click(OUTSIDER, ask, views.APPROVE_EXTENSION_ACTION)
    await world.emulator.wait_until(
        lambda: any(
            "Only members of the approval groups" in e.text
            for e in world.emulator.ephemerals_to(OUTSIDER)
            if e.channel == channel
        )
    )
    assert (await world.store.events(request_id))[-1].type is EventType.EXTENSION_REQUESTED

    await world.click(CAROL, ask, views.APPROVE_EXTENSION_ACTION)

    async def longer() -> Any:
        request = await world.store.get(request_id)
        return request if request and request.duration_minutes > before.duration_minutes else None

    extended = await world.wait_for(longer, "the extension to be written")
    assert before.expires_at is not None and extended.expires_at is not None
    assert (extended.expires_at - before.expires_at).total_seconds() == 3600
    assert (await world.store.events(request_id))[-1].actor == CAROL


async def test_an_approver_who_left_the_approvers_channel_after_submission_is_refused(
    world: Sandbox,
) -> None:
    add_dave(world)
    world.emulator.add_channel("prod-approvers", [DAVE, CAROL])
    configure(world, development={"approvers": ["#prod-approvers"]})
    request_id = await pending(world)
    dave_dm = await world.approval_dm(DAVE, request_id)
    world.emulator.set_channel_members("prod-approvers", [CAROL])

    await world.click(DAVE, dave_dm, views.APPROVE_ACTION)

    refusal = await told(world, DAVE, "You may not approve this request")
    assert "(#prod-approvers)" in refusal.flat_text and "no longer" in refusal.flat_text
    request = await world.store.get(request_id)
    assert request is not None and request.status is Status.PENDING
    await world.click(CAROL, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)


async def test_an_approver_added_to_the_group_after_submission_is_refused(
    world: Sandbox,
) -> None:
    add_dave(world)
    request_id = await pending(world)
    bob_dm = await world.approval_dm(BOB, request_id)
    world.emulator.set_usergroup_members("devops", [*APPROVERS, DAVE])

    await world.click(DAVE, bob_dm, views.APPROVE_ACTION)  # a card he was never sent

    await told(world, DAVE, "its approvers were fixed when it was made")
    request = await world.store.get(request_id)
    assert request is not None and request.status is Status.PENDING


async def test_check_config_names_every_approver_entry_that_names_nobody(world: Sandbox) -> None:
    emulator = world.emulator
    emulator.workspace.add_user("U0GONE", name="gone", email="gone@example.com", deleted=True)
    emulator.add_channel("empty", [])
    emulator.add_channel("sre-approvals", [BOB], bot_member=False)
    config = sandbox_config(
        approvers=["nobody@example.com", "#no-such-channel", "U0GHOST", "#empty", BOB],
        notify=["gone@example.com"],
        fallback_approvers=["@oncall"],
        approval_channel="#sre-approvals",
    )
    client = AsyncWebClient(token=emulator.bot_token, base_url=emulator.api_url)

    problems = await check_groups(client, config)

    assert [p.split(":", 1)[0] for p in problems] == [
        "approvers.0",
        "approvers.1",
        "approvers.2",
        "approvers.3",
        "fallback_approvers.0",
        "notify.0",
        "approval_channel",
    ], problems
    assert "no Slack user has this email" in problems[0]
    assert "no channel of this name or id that the bot can see" in problems[1]
    assert "no Slack user has this id" in problems[2]
    assert "names nobody who is an active member" in problems[3]
    assert "'@oncall' is not the handle or id of any Slack user group" in problems[4]
    assert "names nobody who is an active member" in problems[5]
    assert "the bot is not in this channel; invite it" in problems[6]


async def test_a_channel_card_slack_refuses_goes_to_the_approvers_by_dm(world: Sandbox) -> None:
    world.emulator.add_channel("sre-approvals", [BOB], bot_member=False)  # not invited
    configure(world, approval_channel="#sre-approvals", approval_dms=False)
    request_id = await pending(world)

    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)

    await world.wait_for_status(request_id, Status.ACTIVE)


async def test_a_channel_only_request_reminds_with_the_cards_place_and_threads_its_timeout(
    world: Sandbox, clock: ManualClock
) -> None:
    channel = world.emulator.add_channel("sre-approvals", [BOB, CAROL])
    configure(
        world,
        approval_channel=channel,
        approval_dms=False,
        pending_timeout_minutes=60,
        reminder_minutes=[10],
    )
    request_id = await pending(world)
    card = await world.emulator.wait_until(
        lambda: next(iter(about(world.emulator.messages_in(channel), request_id)), None)
    )

    clock.advance(minutes=11)
    reminder = await told(world, BOB, "Reminder")
    clock.advance(minutes=50)
    await world.wait_for_status(request_id, Status.TIMED_OUT)

    assert f"see the card in <#{channel}>" in reminder.text
    await world.emulator.wait_until(
        lambda: any(
            "Timed out" in m.text
            for m in world.emulator.messages_in(channel)
            if m.thread_ts == card.ts
        )
    )
    assert "Approve" not in card.flat_text


async def test_the_requesters_second_account_is_no_approver_so_the_fallback_is_asked(
    world: Sandbox,
) -> None:
    add_dave(world)
    world.emulator.workspace.add_user("U0ALICEALT", name="alice2", email="Alice+ops@example.com")
    world.emulator.set_usergroup_members("devops", [REQUESTER, "U0ALICEALT"])
    configure(world, fallback_approvers=[DAVE_EMAIL])
    await dave_approves_as_the_fallback(world)


async def test_two_approvals_from_one_other_person_are_refused_at_submit(world: Sandbox) -> None:
    """Bob is the only person besides Alice in devops (his second Slack account too): a
    request needing two approvals could never be approved, and is refused, storing nothing."""
    world.emulator.workspace.add_user("U0BOBALT", name="bob2", email="Bob+ops@example.com")
    world.emulator.set_usergroup_members("devops", [REQUESTER, BOB, "U0BOBALT"])
    configure(world, approvals_required=2)

    await world.request(resources=[world.accounts["development"].buckets[0]])

    refusal = await told(world, REQUESTER, "not stored")
    assert "needs 2 approvals from different people" in refusal.flat_text
    assert "only 1 person other than you" in refusal.flat_text
    assert await world.store.for_user(REQUESTER) == []


async def test_the_fallback_approvers_make_up_the_approvals_the_group_cannot(
    world: Sandbox,
) -> None:
    add_dave(world)
    world.emulator.set_usergroup_members("devops", [REQUESTER, BOB])
    configure(world, approvals_required=2, fallback_approvers=[DAVE])
    request_id = await pending(world)

    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.click(DAVE, await world.approval_dm(DAVE, request_id), views.APPROVE_ACTION)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert set(active.approvals) == {BOB, DAVE}
    [requested, *_] = await world.store.events(request_id)
    assert requested.details["fallback_approvers"] is True
