"""End-to-end fixtures: the real bot over real Socket Mode against the emulator and moto.

Every test checks that each envelope the emulator sent was acked, and the ack latencies of
the whole run are printed in pytest's terminal summary.
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloud_access_bot_sandbox.scenario import ManualClock, Sandbox, sandbox

ACK_LATENCIES_MS: list[float] = []


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ACK_LATENCIES_MS:
        return
    ordered = sorted(ACK_LATENCIES_MS)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    terminalreporter.write_line(
        f"Socket Mode acks in e2e tests: {len(ordered)} envelopes, "
        f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms "
        "(Slack allows 3000 ms)"
    )
