"""Scheduled starts through the emulator and moto: approved ahead of time, granted by the
sweeper at the start with the window fixed at approval, refused beyond the horizon or in the
past, cancelled or revoked before the start without touching AWS, stopped by rules changed
between approval and start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from cloud_access_bot.config import AccessMode
from cloud_access_bot.domain.model import AccessRequest, EventType, Status, iso
from cloud_access_bot.domain.schedule import shown
from cloud_access_bot.service import SYSTEM_ACTOR
from cloud_access_bot.slack import home, schedule_views, views
from cloud_access_bot_sandbox.aws import inline_policies, inline_policy_names
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_workspace import Message
from tests.e2e.test_rules_at_grant import assert_trail_verifies

BOB, CAROL = APPROVERS


def in_minutes(clock: ManualClock, minutes: float) -> datetime:
    """A start the datetimepicker can send: whole seconds, ``minutes`` from the bot's now."""
    return (clock() + timedelta(minutes=minutes)).replace(microsecond=0)


async def scheduled(world: Sandbox, start: datetime, **request: Any) -> AccessRequest:
    bucket = world.accounts["development"].buckets[0]
    stored = await world.submit(resources=[bucket], start=start, **request)
    assert stored.status is Status.PENDING and stored.scheduled_start == start
    return stored


async def approved_ahead(world: Sandbox, start: datetime) -> AccessRequest:
    """A request scheduled at ``start`` and approved by Bob before it."""
    request = await scheduled(world, start)
    dm = await world.approval_dm(BOB, request.id)
    await world.click(BOB, dm, views.APPROVE_ACTION)
    await world.emulator.wait_for_message(
        REQUESTER, lambda m: "is approved and scheduled" in m.text
    )
    stored = await world.store.get(request.id)
    assert stored is not None and stored.status is Status.APPROVED
    return stored


async def requester_dm_with_cancel(world: Sandbox, request_id: str) -> Message:
    return await world.emulator.wait_for_message(
        REQUESTER, lambda m: request_id in m.flat_text and "Cancel request" in m.flat_text
    )


async def test_approved_ahead_is_granted_by_the_sweeper_at_its_start(
    world: Sandbox, clock: ManualClock
) -> None:
    account = world.accounts["development"]
    start = in_minutes(clock, 2)
    request = await scheduled(world, start)
    bob_dm = await world.approval_dm(BOB, request.id)
    window = f"starts {shown(start)}, ends {shown(start + timedelta(minutes=1))}"
    assert window in bob_dm.flat_text

    await world.click(BOB, bob_dm, views.APPROVE_ACTION)
    told = await world.emulator.wait_for_message(
        REQUESTER, lambda m: "is approved and scheduled" in m.text
    )
    assert shown(start) in told.text
    approved = await world.store.get(request.id)
    assert approved is not None and approved.status is Status.APPROVED
    assert (approved.starts_at, approved.expires_at) == (start, start + timedelta(minutes=1))
    # Nothing in IAM before the start; the requester's message says it is scheduled.
    await world.runtime.service.sweep()
    assert await inline_policies(world.clients, account) == {}
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: request.id in m.flat_text and "Scheduled – approved" in m.flat_text
    )
    assert window in mine.flat_text

    clock.advance(minutes=2, seconds=1)
    active = await world.wait_for_status(request.id, Status.ACTIVE)
    document = (await inline_policies(world.clients, account))[active.policy_name or ""]
    for statement in document["Statement"]:
        assert statement["Condition"]["DateGreaterThan"] == {"aws:CurrentTime": iso(start)}
        assert statement["Condition"]["DateLessThan"] == {
            "aws:CurrentTime": iso(start + timedelta(minutes=1))
        }
    await world.emulator.wait_for_message(REQUESTER, lambda m: "Access granted" in m.text)
    for approver in (BOB, CAROL):
        await world.emulator.wait_for_message(approver, lambda m: "is active now" in m.text)
    events = await world.store.events(request.id)
    assert [(e.type, e.actor) for e in events] == [
        (EventType.REQUESTED, REQUESTER),
        (EventType.APPROVED, BOB),
        (EventType.GRANTED, SYSTEM_ACTOR),
    ]
    assert events[0].details["scheduled_start"] == iso(start)
    assert events[1].details["starts_at"] == iso(start)
    assert events[1].details["expires_at"] == iso(start + timedelta(minutes=1))


async def refused_start(world: Sandbox, start: datetime) -> str:
    """Submit the form with ``start``: the error shown under "Start at" (nothing stored)."""
    bucket = world.accounts["development"].buckets[0]
    ack = await world.request(resources=[bucket], start=start)
    assert ack["response_action"] == "errors"
    assert await world.store.for_user(REQUESTER) == []
    return str(ack["errors"][schedule_views.START_BLOCK])


async def test_a_start_beyond_the_horizon_is_refused_in_the_modal(
    world: Sandbox, clock: ManualClock
) -> None:
    world.config = sandbox_config(max_start_ahead_hours=24)
    shown_error = await refused_start(world, in_minutes(clock, 25 * 60))
    assert "at most 24 hours from now" in shown_error


async def test_a_start_in_the_past_is_refused_in_the_modal(
    world: Sandbox, clock: ManualClock
) -> None:
    assert "is in the past" in await refused_start(world, in_minutes(clock, -60))


async def test_the_requester_cancels_a_scheduled_request_before_its_start(
    world: Sandbox, clock: ManualClock
) -> None:
    request = await approved_ahead(world, in_minutes(clock, 10))
    await world.click(
        REQUESTER, await requester_dm_with_cancel(world, request.id), views.CANCEL_ACTION
    )
    await world.wait_for_status(request.id, Status.CANCELLED)
    clock.advance(minutes=11)
    await world.runtime.service.sweep()
    assert await world.store.due(Status.APPROVED, clock()) == []
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
    assert (await world.wait_for_status(request.id, Status.CANCELLED)).policy_name is None


async def test_an_approver_revokes_a_scheduled_request_before_its_start(
    world: Sandbox, clock: ManualClock
) -> None:
    request = await approved_ahead(world, in_minutes(clock, 10))
    carol_dm = await world.emulator.wait_for_message(
        CAROL, lambda m: request.id in m.flat_text and "Revoke now" in m.flat_text
    )

    await world.click(CAROL, carol_dm, views.REVOKE_ACTION)
    revoked = await world.wait_for_status(request.id, Status.REVOKED)
    # Who approved it stays; who revoked it is the revocation's actor (as for a grant).
    assert revoked.decided_by == BOB
    last = (await world.store.events(request.id))[-1]
    assert (last.type, last.actor) == (EventType.REVOKED, CAROL)
    await world.emulator.wait_for_message(
        REQUESTER, lambda m: "revoked before its start: nothing was granted" in m.text
    )
    clock.advance(minutes=11)
    await world.runtime.service.sweep()
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_rules_changed_before_the_start_stop_the_grant_and_everyone_is_told(
    world: Sandbox, clock: ManualClock
) -> None:
    request = await approved_ahead(world, in_minutes(clock, 5))
    world.config = sandbox_config(never_grantable_actions=["iam:*", "s3:GetObject"])

    clock.advance(minutes=5, seconds=1)
    failed = await world.wait_for_status(request.id, Status.FAILED)
    assert "s3:GetObject is never grantable" in (failed.failure_reason or "")
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
    await world.emulator.wait_for_message(REQUESTER, lambda m: "never grantable" in m.text)
    for approver in (BOB, CAROL):
        await world.emulator.wait_for_message(approver, lambda m: "did not start" in m.text)


async def test_a_maximum_lowered_before_the_start_caps_the_grant_and_the_trail_verifies(
    world: Sandbox, clock: ManualClock
) -> None:
    start = in_minutes(clock, 5)
    request = await scheduled(world, start, duration=15)
    dm = await world.approval_dm(BOB, request.id)
    await world.click(BOB, dm, views.APPROVE_ACTION)
    await world.emulator.wait_for_message(
        REQUESTER, lambda m: "is approved and scheduled" in m.text
    )
    world.config = sandbox_config(max_duration_minutes=1, durations_minutes=[1])

    clock.advance(minutes=5, seconds=1)
    active = await world.wait_for_status(request.id, Status.ACTIVE)
    assert (active.starts_at, active.expires_at) == (start, start + timedelta(minutes=1))
    await world.emulator.wait_for_message(REQUESTER, lambda m: "is now 1 minute" in m.text)
    await assert_trail_verifies(world)


async def test_an_approval_after_the_scheduled_start_starts_the_window_at_approval(
    world: Sandbox, clock: ManualClock
) -> None:
    start = in_minutes(clock, 2)
    request = await scheduled(world, start)
    dm = await world.approval_dm(BOB, request.id)
    clock.advance(minutes=3)

    await world.click(BOB, dm, views.APPROVE_ACTION)
    active = await world.wait_for_status(request.id, Status.ACTIVE)
    assert active.starts_at is not None and active.starts_at > start
    assert active.expires_at == active.starts_at + timedelta(minutes=1)


async def test_no_start_input_when_scheduling_is_off(world: Sandbox) -> None:
    world.config = sandbox_config(max_start_ahead_hours=0)
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    assert "For how long?" in modal.text
    assert schedule_views.START_LABEL not in modal.text


async def test_a_requester_deactivated_before_the_start_is_granted_nothing(
    world: Sandbox, clock: ManualClock
) -> None:
    request = await approved_ahead(world, in_minutes(clock, 5))
    world.emulator.workspace.users[REQUESTER].deleted = True

    clock.advance(minutes=5, seconds=1)
    failed = await world.wait_for_status(request.id, Status.FAILED)
    assert "no longer an active member" in (failed.failure_reason or "")
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
    await world.emulator.wait_for_message(BOB, lambda m: "did not start" in m.text)


class CancelledWhileGranting:
    """The runtime's inline-policy granter, except that its first grant, once written, waits
    until the requester's cancel is recorded: the sweeper read the request before the cancel
    and writes ACTIVE after it (the race, made certain)."""

    def __init__(self, real: Any, cancel: Callable[[], Awaitable[None]]) -> None:
        self._real, self._cancel = real, cancel
        self.raced = False

    async def grant(self, *args: Any) -> Any:
        result = await self._real.grant(*args)
        if not self.raced:
            self.raced = True
            await self._cancel()
        return result

    async def revoke(self, *args: Any) -> bool:
        removed: bool = await self._real.revoke(*args)
        return removed


async def test_a_cancel_racing_the_grant_at_the_start_leaves_nothing_in_iam(
    world: Sandbox, clock: ManualClock
) -> None:
    start = in_minutes(clock, 5)
    request = await approved_ahead(world, start)
    mine = await requester_dm_with_cancel(world, request.id)

    async def cancel_on_a_replica_a_little_behind() -> None:
        behind = clock() - start + timedelta(seconds=1)
        clock.offset -= behind  # its clock still reads a second before the start
        await world.click(REQUESTER, mine, views.CANCEL_ACTION)
        await world.wait_for_status(request.id, Status.CANCELLED)
        clock.offset += behind

    granters = world.runtime.service._granters  # the race needs a hook between write and record
    racer = CancelledWhileGranting(
        granters[AccessMode.INLINE_POLICY], cancel_on_a_replica_a_little_behind
    )
    granters[AccessMode.INLINE_POLICY] = racer  # type: ignore[index]
    clock.advance(minutes=5, seconds=1)

    async def raced_and_removed() -> bool:
        # Names only: a document fetched after listing may already be gone (that is the race).
        return racer.raced and not await inline_policy_names(
            world.clients, world.accounts["development"]
        )

    await world.wait_for(raced_and_removed, "the grant written at the start to be taken back")
    assert (await world.wait_for_status(request.id, Status.CANCELLED)).policy_name is None


async def test_audit_show_has_the_scheduled_start_and_the_window_fixed_for_it(
    world: Sandbox, clock: ManualClock
) -> None:
    world.emulator.workspace.add_usergroup("security", [CAROL], name="Security")
    world.config = sandbox_config(admin_groups=["security"])
    start = in_minutes(clock, 30)
    request = await approved_ahead(world, start)

    await world.emulator.slash_command(CAROL, "/request", f"audit show {request.id}")

    def answer() -> str:
        texts = [r.body.get("text", "") for r in world.emulator.responses if r.user_id == CAROL]
        return texts[-1] if texts else ""

    await world.emulator.wait_until(answer)
    assert f"scheduled   to start {iso(start)}" in answer()
    assert f"window      {iso(start)} → {iso(start + timedelta(minutes=1))}" in answer()
    assert '"scheduled_start": "' + iso(start) + '"' in answer()


async def test_home_shows_a_scheduled_request_and_cancels_it(
    world: Sandbox, clock: ManualClock
) -> None:
    start = in_minutes(clock, 30)
    request = await approved_ahead(world, start)

    await world.emulator.app_home_opened(REQUESTER)
    mine = await world.emulator.wait_for_home(REQUESTER, lambda t: request.id in t.text)
    assert f"scheduled, starts {shown(start)}" in mine.text
    await mine.click(home.HOME_CANCEL, request.id)
    await world.wait_for_status(request.id, Status.CANCELLED)


async def test_a_scheduled_request_nobody_decides_is_reminded_and_times_out_as_usual(
    world: Sandbox, clock: ManualClock
) -> None:
    world.config = sandbox_config(pending_timeout_minutes=60, reminder_minutes=[30])
    request = await scheduled(world, in_minutes(clock, 120))
    await world.approval_dm(BOB, request.id)

    clock.advance(minutes=31)
    await world.emulator.wait_for_message(BOB, lambda m: "Reminder" in m.text)
    clock.advance(minutes=30)
    timed_out = await world.wait_for_status(request.id, Status.TIMED_OUT)
    assert timed_out.starts_at is None
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
