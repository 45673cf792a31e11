"""Rules in force at the moment of writing, for what happens after a request was approved:
extensions under a changed configuration, a renamed account, an approval clicked after the
pending timeout — through the emulator and moto."""

from __future__ import annotations

from cloud_access_bot.domain.model import EventType, Status, iso
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox_config,
)
from tests.e2e.test_grant_changes import active_grant, ask_extension, conditions_of
from tests.e2e.test_rules_at_grant import configure, pending, status_of

BOB, CAROL = APPROVERS


async def policy_end(world: Sandbox) -> set[str]:
    policies = await inline_policies(world.clients, world.accounts["development"])
    return {c["DateLessThan"]["aws:CurrentTime"] for c in conditions_of(policies)}  # type: ignore[index]


async def event_types(world: Sandbox, request_id: str) -> list[EventType]:
    return [e.type for e in await world.runtime.store.events(request_id)]


# -- an extension is written under the rules in force when it is approved ----------------------


async def test_an_extension_beyond_a_lowered_maximum_is_capped_and_says_so(
    world: Sandbox,
) -> None:
    request_id = await active_grant(world)  # 15 minutes
    before = await world.runtime.store.get(request_id)
    assert before is not None and before.expires_at is not None
    ask = await ask_extension(world, request_id, "60")
    configure(world, max_duration_minutes=30, durations_minutes=[1, 15, 30])

    await world.click(BOB, ask, views.APPROVE_EXTENSION_ACTION)

    for person in (BOB, REQUESTER):
        told = await world.emulator.wait_for_message(person, lambda m: "is now 30" in m.text)
        assert "adds 15 minutes instead of the 60 asked for" in told.text
    await world.emulator.wait_for_message(REQUESTER, lambda m: "now lasts until" in m.text)
    extended = await world.runtime.store.get(request_id)
    assert extended is not None and extended.expires_at is not None
    assert (extended.expires_at - before.expires_at).total_seconds() == 15 * 60
    assert extended.duration_minutes == 30
    assert await policy_end(world) == {iso(extended.expires_at)}


async def test_an_extension_when_the_grant_already_has_the_lowered_maximum_is_refused(
    world: Sandbox,
) -> None:
    request_id = await active_grant(world)
    before = await world.runtime.store.get(request_id)
    assert before is not None and before.expires_at is not None
    ask = await ask_extension(world, request_id, "60")
    configure(world, max_duration_minutes=15, durations_minutes=[1, 15])

    await world.click(BOB, ask, views.APPROVE_EXTENSION_ACTION)

    for person in (BOB, REQUESTER):
        told = await world.emulator.wait_for_message(person, lambda m: "extension was" in m.text)
        assert "is now 15 minutes, which this grant already has" in told.text
    await world.wait_for(
        lambda: _last_is(world, request_id, EventType.EXTENSION_DENIED), "refusal recorded"
    )
    after = await world.runtime.store.get(request_id)
    assert after is not None and after.expires_at == before.expires_at
    assert after.pending_extension == 0
    assert await policy_end(world) == {iso(before.expires_at)}


async def test_an_extension_of_an_action_made_never_grantable_is_refused(world: Sandbox) -> None:
    request_id = await active_grant(world)
    before = await world.runtime.store.get(request_id)
    assert before is not None and before.expires_at is not None
    ask = await ask_extension(world, request_id, "15")
    configure(world, never_grantable_actions=["iam:*", "s3:GetObject"])

    await world.click(BOB, ask, views.APPROVE_EXTENSION_ACTION)

    told = await world.emulator.wait_for_message(REQUESTER, lambda m: "current rules" in m.text)
    assert "s3:GetObject is never grantable" in told.text
    await world.wait_for(
        lambda: _last_is(world, request_id, EventType.EXTENSION_DENIED), "refusal recorded"
    )
    assert await policy_end(world) == {iso(before.expires_at)}


async def _last_is(world: Sandbox, request_id: str, event: EventType) -> bool:
    return (await event_types(world, request_id))[-1] is event


# -- the recorded account, under whatever name it has now --------------------------------------


async def test_a_renamed_account_is_granted_under_its_own_rules_not_the_reused_name(
    world: Sandbox,
) -> None:
    """``development`` (111…) is renamed and its old name given to the production account
    (222…), whose approvers are someone else: the request is still for 111…, approved by 111…'s
    approvers and written there."""
    request_id = await pending(world)
    dm = await world.approval_dm(BOB, request_id)
    accounts = sandbox_config().model_dump(mode="json")["accounts"]
    accounts["dev-renamed"] = accounts.pop("development")
    accounts["development"] = {**accounts.pop("production"), "approval_groups": ["nobody-here"]}
    configure(world, accounts=accounts)

    await world.click(BOB, dm, views.APPROVE_ACTION)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.account_id == ACCOUNTS["development"]
    policies = await inline_policies(world.clients, world.accounts["development"])
    assert list(policies) == [active.policy_name]
    assert await inline_policies(world.clients, world.accounts["production"]) == {}


async def test_an_account_number_no_longer_configured_is_refused_by_number(
    world: Sandbox,
) -> None:
    request_id = await pending(world)
    dm = await world.approval_dm(BOB, request_id)
    accounts = sandbox_config().model_dump(mode="json")["accounts"]
    accounts["development"] = accounts.pop("production")
    configure(world, accounts=accounts)

    await world.click(BOB, dm, views.APPROVE_ACTION)

    told = await world.emulator.wait_for_message(BOB, lambda m: "no longer" in m.text)
    assert f"{ACCOUNTS['development']}" in told.text
    assert await status_of(world, request_id) is Status.PENDING
    assert await inline_policies(world.clients, world.accounts["production"]) == {}


# -- an approval clicked after the pending timeout --------------------------------------------


async def test_a_click_after_the_timeout_times_the_request_out_then_and_tells_both(
    world: Sandbox, clock: ManualClock
) -> None:
    """Two approvals needed: the first click after the timeout is not recorded as an approval
    (it used to be), the request is timed out at once and both people are told."""
    await world.stop_bot()
    world.runtime_options = {"sweep_interval": 3600}  # the sweeper stays asleep
    configure(world, pending_timeout_minutes=30, approvals_required=2)
    await world.start_bot()
    request_id = await pending(world)
    dm = await world.approval_dm(BOB, request_id)
    clock.advance(minutes=31)

    await world.click(BOB, dm, views.APPROVE_ACTION)

    for person in (BOB, REQUESTER):
        await world.emulator.wait_for_message(
            person, lambda m: "timed out" in m.text and request_id in m.text
        )
    timed_out = await world.wait_for_status(request_id, Status.TIMED_OUT)
    assert timed_out.approvals == ()
    assert await event_types(world, request_id) == [EventType.REQUESTED, EventType.TIMED_OUT]
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


# -- who is granted: a requester deactivated before the approval ------------------------------


async def test_a_requester_deactivated_before_the_approval_is_granted_nothing(
    world: Sandbox,
) -> None:
    request_id = await pending(world)
    dm = await world.approval_dm(BOB, request_id)
    world.emulator.workspace.users[REQUESTER].deleted = True

    await world.click(BOB, dm, views.APPROVE_ACTION)

    told = await world.emulator.wait_for_message(BOB, lambda m: "no longer an active" in m.text)
    assert request_id in told.text
    assert await status_of(world, request_id) is Status.PENDING
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_an_extension_for_a_deactivated_requester_is_not_approved(world: Sandbox) -> None:
    request_id = await active_grant(world)
    before = await world.runtime.store.get(request_id)
    assert before is not None and before.expires_at is not None
    ask = await ask_extension(world, request_id, "15")
    world.emulator.workspace.users[REQUESTER].deleted = True

    await world.click(BOB, ask, views.APPROVE_EXTENSION_ACTION)

    await world.emulator.wait_for_message(BOB, lambda m: "no longer an active" in m.text)
    assert await policy_end(world) == {iso(before.expires_at)}
