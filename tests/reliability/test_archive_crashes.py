"""A crash at each step of archiving, then a new instance: no event is lost (duplicates are
harmless and counted). As in test_restarts, the step's collaborator blocks forever (a killed
process never resumes) and the bot is stopped without waiting for in-flight work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloud_access_bot.aws.archive import S3Archive
from cloud_access_bot.aws.drainer import LEASE_TTL
from cloud_access_bot.domain.model import Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.faults import AwsFaultProxy, Freeze
from cloud_access_bot_sandbox.scenario import ManualClock, Sandbox
from tests.e2e.test_answering_an_auditor import BUCKET, archived_sandbox
from tests.reliability.reliability_kit import BOB, crash, stored, submit


@pytest.fixture
async def world(aws_faults: AwsFaultProxy, clock: ManualClock) -> AsyncIterator[Sandbox]:
    """The sandbox with the archive configured, its bucket made before the bot starts."""
    async with archived_sandbox(clock) as made:
        yield made


def archive_writer(world: Sandbox) -> Any:
    return world.runtime.drainer._writer


STEPS = {
    "committed, not yet drained": lambda w: Freeze(w.runtime.drainer, "drain"),
    "drain read the outbox, S3 not written": lambda w: Freeze(archive_writer(w), "write"),
    "S3 written, outbox not emptied": lambda w: Freeze(archive_writer(w), "write", after=True),
}


@pytest.mark.parametrize("step", list(STEPS))
async def test_a_crash_at_each_archiving_step_loses_no_event(
    world: Sandbox, clock: ManualClock, step: str
) -> None:
    freeze = STEPS[step](world)
    request_id = await submit(world)
    await freeze.wait()
    await crash(world)
    freeze.cancel()
    clock.advance(seconds=LEASE_TTL.total_seconds() + 1)  # the dead instance's lease runs out
    await world.start_bot()
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)
    table = {e.seq for e in await stored(world).events(request_id)}

    async def archived() -> Counter[int] | None:
        rows = await S3Archive(world.clients).read(BUCKET, "events/", None)
        seqs = Counter(r["seq"] for r in rows if r["request_id"] == request_id)
        return seqs if set(seqs) >= table else None

    seqs = await world.wait_for(archived, "every event archived", timeout=20)
    assert set(seqs) == table
    print(f"crash {step}: {len(table)} events, lost 0, duplicates {seqs.total() - len(seqs)}")
    if step == "S3 written, outbox not emptied":
        assert seqs[1] == 2, "REQUESTED was archived before the crash and again after"
