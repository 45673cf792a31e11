"""Socket Mode faults: the bot reconnects by itself and handles every envelope after it;
duplicate deliveries change nothing twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.faults import stop_pongs
from cloud_access_bot_sandbox.scenario import REQUESTER, Sandbox
from cloud_access_bot_sandbox.slack_emulator import AckRecord
from tests.reliability.reliability_kit import BOB, CAROL, full_flow, submit


async def redeliver(world: Sandbox, envelope: dict[str, Any]) -> AckRecord:
    """Slack delivering the same envelope again (same envelope_id, marked as a retry)."""
    return await world.emulator.send_envelope(
        envelope["type"],
        envelope["payload"],
        envelope_id=envelope["envelope_id"],
        retry_attempt=1,
        retry_reason="timeout",
    )


@pytest.mark.ping_interval(1)
@pytest.mark.parametrize(
    "reason",
    [
        "refresh_requested",
        pytest.param("warning", marks=pytest.mark.slow),
        pytest.param("link_disabled", marks=pytest.mark.slow),
        pytest.param("too_many_websockets", marks=pytest.mark.slow),
    ],
)
async def test_reconnects_after_disconnect_and_handles_what_follows(
    world: Sandbox, reason: str
) -> None:
    await full_flow(world)
    opened = world.emulator.connections_opened

    await world.emulator.disconnect(reason)

    await world.emulator.wait_connected(total=opened + 1)
    await full_flow(world, approver=CAROL)
    assert world.emulator.connection_count == 1


@pytest.mark.ping_interval(1)
async def test_reconnects_after_the_server_closes_the_socket(world: Sandbox) -> None:
    opened = world.emulator.connections_opened
    await world.emulator.close_socket()
    await world.emulator.wait_connected(total=opened + 1)
    await full_flow(world)


@pytest.mark.slow
@pytest.mark.ping_interval(1)
async def test_keeps_trying_while_connections_open_is_rate_limited(world: Sandbox) -> None:
    opened = world.emulator.connections_opened
    world.emulator.fail_connections_open(2, error="ratelimited")
    world.emulator.fail_connections_open(1, error="internal_error")

    await world.emulator.close_socket()

    await world.emulator.wait_connected(timeout=20, total=opened + 1)
    failed = [c for c in world.emulator.calls_to("apps.connections.open") if not c.response["ok"]]
    assert [c.response["error"] for c in failed] == ["ratelimited", "ratelimited", "internal_error"]
    await full_flow(world)


@pytest.mark.slow
@pytest.mark.ping_interval(1)
async def test_notices_a_stale_connection_and_reconnects(world: Sandbox) -> None:
    opened = world.emulator.connections_opened
    stop_pongs(world.emulator)
    await world.emulator.wait_connected(timeout=20, total=opened + 1)
    await full_flow(world)


async def test_duplicate_approve_envelopes_grant_once(world: Sandbox) -> None:
    request_id = await submit(world)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    click = world.emulator.envelopes[-1]
    await world.wait_for_status(request_id, Status.ACTIVE)

    await asyncio.gather(redeliver(world, click), redeliver(world, click))

    events = [e.type for e in await world.runtime.store.events(request_id)]
    assert events == [EventType.REQUESTED, EventType.APPROVED, EventType.GRANTED]


async def test_duplicate_approve_envelopes_at_the_same_instant_grant_once(world: Sandbox) -> None:
    request_id = await submit(world)
    dm = await world.approval_dm(BOB, request_id)
    sent = len(world.emulator.envelopes)
    first = asyncio.create_task(world.click(BOB, dm, views.APPROVE_ACTION))
    await world.emulator.wait_until(lambda: len(world.emulator.envelopes) > sent)
    await asyncio.gather(first, redeliver(world, world.emulator.envelopes[sent]))

    await world.wait_for_status(request_id, Status.ACTIVE)
    events = [e.type for e in await world.runtime.store.events(request_id)]
    assert events.count(EventType.APPROVED) == 1
    assert events.count(EventType.GRANTED) == 1


@pytest.mark.slow
async def test_redelivered_submission_stores_one_request(world: Sandbox) -> None:
    await submit(world)
    submission = next(
        e for e in reversed(world.emulator.envelopes) if e["payload"]["type"] == "view_submission"
    )

    await redeliver(world, submission)
    # The socket handler tracks an envelope from arrival until its listener has finished.
    assert await world.runtime.inflight.wait_idle(10), "the redelivery was never handled"

    assert len(await world.runtime.store.for_user(REQUESTER)) == 1


async def test_retried_event_is_acked_each_time(world: Sandbox) -> None:
    await world.emulator.app_home_opened(REQUESTER)
    event = world.emulator.envelopes[-1]
    ack = await redeliver(world, event)
    assert ack.envelope_id == event["envelope_id"]
