"""End-to-end fixtures: the real bot over real Socket Mode against the emulator and moto.

Every test checks that each envelope the emulator sent was acked, and that ``audit verify``
finds every request the bot stored as its audit chain sealed it (the bot's own writes never
look like edits behind its back); the ack latencies of the whole run are printed at its end
(tests/summary.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from cloud_access_bot.audit.verify import verify_trail
from cloud_access_bot_sandbox.scenario import ManualClock, Sandbox, sandbox
from tests.summary import ACK_LATENCIES_MS

DECADE = timedelta(days=3650)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def world(aws: str, clock: ManualClock) -> AsyncIterator[Sandbox]:
    async with sandbox(clock=clock) as made:
        yield made
        emulator = made.emulator
        ACK_LATENCIES_MS.extend(a.latency_ms for a in emulator.acks if a.latency_ms is not None)
        assert not emulator.problems, emulator.problems
        assert len(emulator.acks) == len(emulator.envelopes), "an envelope was never acked"
        now = clock() + timedelta(minutes=1)
        trail = await verify_trail(made.store, since=None, until=now, now=now, retention=DECADE)
        assert trail.ok, trail.lines()
