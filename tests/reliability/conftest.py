"""Reliability fixtures: the sandbox behind an AWS fault proxy, audited after every test.

Every test's world is checked at teardown: each envelope the emulator sent was acked within
Slack's deadline, and DynamoDB and IAM agree (see ``reliability_kit.audit``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.runtime import BotRuntime
from cloud_access_bot_sandbox import scenario
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import ManualClock, Sandbox, sandbox
from tests.reliability.reliability_kit import audit
from tests.summary import FIGURES


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ping_interval(seconds): Socket Mode ping interval of the bots in `world`"
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def aws_faults(aws: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AwsFaultProxy]:
    """The fault proxy in front of moto; AWS clients built after this go through it."""
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    yield proxy
    FIGURES.faults += proxy.injected
    await proxy.stop()


@pytest.fixture
async def world(
    request: pytest.FixtureRequest,
    aws_faults: AwsFaultProxy,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Sandbox]:
    marker = request.node.get_closest_marker("ping_interval")
    if marker is not None:
        fast = functools.partial(BotRuntime, ping_interval=marker.args[0])
        monkeypatch.setattr(scenario, "BotRuntime", fast)
    async with sandbox(clock=clock) as made:
        yield made
        aws_faults.clear()
        emulator = made.emulator
        FIGURES.envelopes += len(emulator.acks)
        FIGURES.slow_acks += sum(1 for a in emulator.acks if (a.latency_ms or 0) > 3000)
        if request.node.get_closest_marker("xfail") is None:
            assert not emulator.problems, emulator.problems
            assert len(emulator.acks) == len(emulator.envelopes), "an envelope was never acked"
        assert await audit(made) == []
