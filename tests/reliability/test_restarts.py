"""Crashes at each step of the flow, then a new instance on the same table: every request ends
completed, or failed and reported; never a policy without its record or ACTIVE without a policy.

A crash is simulated in-process: the step's collaborator blocks forever at that point (it never
resumes, as in a killed process) and the bot is stopped without waiting for in-flight work.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from cloud_access_bot.config import AccessMode, AccountConfig
from cloud_access_bot.domain.model import AccessRequest, EventType, Status
from cloud_access_bot.ports import Granter, GrantResult
from cloud_access_bot.service import STUCK_APPROVAL
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.faults import Freeze
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, ManualClock, Sandbox
from tests.reliability.reliability_kit import BOB, crash, stored, submit


def granter_of(world: Sandbox) -> Granter:
    return world.runtime.service._granters[AccessMode.INLINE_POLICY]


async def approve_into(world: Sandbox, freeze: Freeze, duration: int = 15) -> str:
    """Submit, click Approve, and wait until the flow reaches the frozen step."""
    request_id = await submit(world, duration=duration)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await freeze.wait()
    return request_id


async def told(world: Sandbox, user: str, text: str) -> None:
    await world.emulator.wait_for_message(user, lambda m: text in m.text)


async def test_crash_after_submit_before_dms_times_out_and_tells_the_requester(
    world: Sandbox, clock: ManualClock
) -> None:
    freeze = Freeze(world.runtime.service._notifier, "announce")
    await world.request(resources=[world.accounts["development"].buckets[0]])
    await freeze.wait()
    await crash(world)
    freeze.cancel()
    await world.start_bot()
    request = (await stored(world).for_user(REQUESTER))[0]
    assert request.status is Status.PENDING

    clock.advance(minutes=world.config.pending_timeout_minutes, seconds=1)

    await world.wait_for_status(request.id, Status.TIMED_OUT)
    await told(world, REQUESTER, request.id)


@pytest.mark.slow
async def test_crash_after_submit_before_dms_announces_after_restart(
    world: Sandbox, clock: ManualClock
) -> None:
    freeze = Freeze(world.runtime.service._notifier, "announce")
    await world.request(resources=[world.accounts["development"].buckets[0]])
    await freeze.wait()
    await crash(world)
    freeze.cancel()
    await world.start_bot()
    request = (await stored(world).for_user(REQUESTER))[0]

    # The sweeper announces it at the first reminder (the default schedule starts at 30 min).
    clock.advance(minutes=world.config.reminder_minutes[0], seconds=1)

    await world.approval_dm(BOB, request.id)
    announced = [m for m in world.emulator.messages_to(BOB) if request.id in m.flat_text]
    assert len(announced) == 1, "announced more than once"


async def test_crash_after_approval_before_the_policy_is_written_is_finished_by_the_sweeper(
    world: Sandbox, clock: ManualClock
) -> None:
    freeze = Freeze(granter_of(world), "grant")
    request_id = await approve_into(world, freeze)
    await crash(world)
    freeze.cancel()
    assert (await stored(world).get(request_id)).status is Status.APPROVED  # type: ignore[union-attr]
    assert await inline_policies(world.clients, world.accounts["development"]) == {}

    await world.start_bot()
    clock.advance(seconds=STUCK_APPROVAL.total_seconds() + 1)

    await world.wait_for_status(request_id, Status.ACTIVE)
    await told(world, REQUESTER, "Access granted")


async def test_crash_after_the_policy_is_written_records_active_once(
    world: Sandbox, clock: ManualClock
) -> None:
    freeze = Freeze(granter_of(world), "grant", after=True)
    request_id = await approve_into(world, freeze)
    await crash(world)
    freeze.cancel()
    assert (await stored(world).get(request_id)).status is Status.APPROVED  # type: ignore[union-attr]
    assert await inline_policies(world.clients, world.accounts["development"]) != {}

    await world.start_bot()
    clock.advance(seconds=STUCK_APPROVAL.total_seconds() + 1)

    await world.wait_for_status(request_id, Status.ACTIVE)
    events = [e.type for e in await stored(world).events(request_id)]
    assert events == [EventType.REQUESTED, EventType.APPROVED, EventType.GRANTED]


async def test_crash_before_the_grant_and_a_restart_after_the_window_fails_clearly(
    world: Sandbox, clock: ManualClock
) -> None:
    freeze = Freeze(granter_of(world), "grant")
    request_id = await approve_into(world, freeze, duration=1)
    await crash(world)
    freeze.cancel()

    clock.advance(minutes=1, seconds=1)
    await world.start_bot()

    failed = await world.wait_for_status(request_id, Status.FAILED)
    assert "window ended" in (failed.failure_reason or "")
    await told(world, REQUESTER, request_id)
    for approver in APPROVERS:
        await world.emulator.wait_for_message(
            approver, lambda m: request_id in m.flat_text and "Approve" not in m.flat_text
        )


async def test_crash_after_the_policy_is_removed_records_expiry_after_restart(
    world: Sandbox, clock: ManualClock
) -> None:
    request_id = await submit(world)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)
    freeze = Freeze(granter_of(world), "revoke", after=True)
    clock.advance(minutes=1, seconds=1)
    await freeze.wait()
    await crash(world)
    freeze.cancel()
    assert await inline_policies(world.clients, world.accounts["development"]) == {}

    await world.start_bot()

    await world.wait_for_status(request_id, Status.EXPIRED)
    await told(world, REQUESTER, request_id)


async def test_sigterm_finishes_the_grant_in_flight(world: Sandbox) -> None:
    granter = granter_of(world)
    real = granter.grant
    entered = asyncio.Event()

    async def slow_grant(
        request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        entered.set()
        await asyncio.sleep(0.5)
        return await real(request, account, start, end)

    granter.grant = slow_grant  # type: ignore[method-assign]
    request_id = await submit(world)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await entered.wait()

    await world.stop_bot()

    assert (await stored(world).get(request_id)).status is Status.ACTIVE  # type: ignore[union-attr]
    await world.start_bot()
