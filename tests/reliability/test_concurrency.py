"""Many people at once: one grant for a request however many approvers click, and every DM of
a submission burst sent while Slack rate-limits chat.postMessage (429 + Retry-After)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, Sandbox
from tests.reliability.reliability_kit import stored, submit


async def test_fifty_approvers_clicking_at_once_grant_once(world: Sandbox) -> None:
    crowd = [f"U0APPR{n:03d}" for n in range(50)]
    for user in crowd:
        world.emulator.add_user(user, name=user.lower(), email=f"{user.lower()}@example.com")
    world.emulator.set_usergroup_members("devops", crowd)
    request_id = await submit(world)
    dms = await asyncio.gather(*(world.approval_dm(user, request_id) for user in crowd))

    await asyncio.gather(
        *(world.click(user, dm, views.APPROVE_ACTION) for user, dm in zip(crowd, dms, strict=True))
    )

    # Generous waits: what is asserted is one grant and every loser told, not how fast 50
    # clicks are judged on a machine busy with other work (the benchmark measures speed).
    active = await world.wait_for_status(request_id, Status.ACTIVE, timeout=30)
    events = [e.type for e in await stored(world).events(request_id)]
    assert events == [EventType.REQUESTED, EventType.APPROVED, EventType.GRANTED]
    losers = [user for user in crowd if user != active.decided_by]
    for user in losers:
        await world.emulator.wait_for_message(
            user, lambda m: "already approved" in m.text, timeout=30
        )


async def submission_burst(world: Sandbox, requesters: int, per_second: float) -> None:
    users = [f"U0REQ{n:03d}" for n in range(requesters)]
    for user in users:
        world.emulator.add_user(user, name=user.lower(), email=f"{user.lower()}@example.com")
    world.emulator.set_rate_limit("chat.postMessage", per_second=per_second)

    bucket = world.accounts["development"].buckets[0]
    acks = await asyncio.gather(*(world.request(user=user, resources=[bucket]) for user in users))
    assert all(ack.get("response_action") != "errors" for ack in acks)

    async def every_request_stored() -> list[str] | None:
        found = [await stored(world).for_user(user, limit=1) for user in users]
        return [f[0].id for f in found] if all(found) else None

    ids = await world.wait_for(every_request_stored, "every request stored", timeout=120)

    def missing_dms() -> list[tuple[str, str]]:
        return [
            (request_id, person)
            for request_id, user in zip(ids, users, strict=True)
            for person in (*APPROVERS, user)
            if not any(request_id in m.flat_text for m in world.emulator.messages_to(person))
        ]

    with contextlib.suppress(TimeoutError):
        await world.emulator.wait_until(lambda: not missing_dms(), timeout=requesters)
    missing = missing_dms()
    assert not missing, f"{len(missing)} of {3 * requesters} DMs never sent"
    statuses = {(await stored(world).get(i)).status for i in ids}  # type: ignore[union-attr]
    assert statuses == {Status.PENDING}
    limited = [c for c in world.emulator.calls_to("chat.postMessage") if c.status == 429]
    assert limited, "the rate limit was never hit: the test proves nothing"


@pytest.mark.slow
async def test_twenty_requesters_at_once_under_a_rate_limit(world: Sandbox) -> None:
    await submission_burst(world, requesters=20, per_second=10)


@pytest.mark.slow
async def test_two_hundred_requesters_at_once_under_a_rate_limit(world: Sandbox) -> None:
    world.emulator.timeout = 30
    await submission_burst(world, requesters=200, per_second=50)
