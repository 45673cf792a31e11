"""Metrics as a platform team reads them: EMF documents on stdout, from a real grant and expiry
through the Socket Mode handler, the emulator and moto."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from cloud_access_bot.domain.model import Status
from cloud_access_bot.metrics import NAMESPACE, Recorder
from cloud_access_bot.metrics.emf import EmfSink
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, ManualClock, sandbox


def emf_metrics(stdout: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, dimensions, value) of every EMF document, checked against the EMF spec's shape."""
    found = []
    for line in stdout.splitlines():
        document: dict[str, Any] = json.loads(line)
        meta = document["_aws"]
        assert isinstance(meta["Timestamp"], int)
        [directive] = meta["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        [dimension_keys] = directive["Dimensions"]
        for metric in directive["Metrics"]:
            dimensions = {key: document[key] for key in dimension_keys}
            found.append((metric["Name"], dimensions, float(document[metric["Name"]])))
    return found


async def test_a_grant_and_its_expiry_are_counted(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock()
    async with sandbox(start=False, clock=clock) as world:
        world.runtime_options["metrics"] = Recorder(EmfSink())
        await world.start_bot()
        account = world.accounts["development"]
        await world.request(resources=[account.buckets[0]])
        request = await world.latest_request()
        approver = APPROVERS[0]
        await world.click(
            approver, await world.approval_dm(approver, request.id), views.APPROVE_ACTION
        )
        await world.wait_for_status(request.id, Status.ACTIVE)
        clock.advance(minutes=1, seconds=30)
        await world.wait_for_status(request.id, Status.EXPIRED)
        await world.stop_bot()

    metrics = emf_metrics(capsys.readouterr().out)
    counts = Counter(
        (name, tuple(sorted(dims.items()))) for name, dims, _ in metrics if name != "AckLatency"
    )
    assert counts[("Requests", (("Outcome", "submitted"),))] == 1
    assert counts[("Requests", (("Outcome", "approved"),))] == 1
    assert counts[("Approvals", ())] == 1
    assert counts[("Grants", ())] == 1
    assert counts[("GrantFailures", ())] == 0
    assert counts[("Expiries", ())] == 1
    assert counts[("SweepSucceeded", ())] >= 1
    [lag] = [value for name, _, value in metrics if name == "RevocationLag"]
    assert 30_000 <= lag < 60_000  # the sweeper removed it 30 s (of the manual clock) late
    acks = [value for name, _, value in metrics if name == "AckLatency"]
    assert len(acks) == len(world.emulator.acks)
    assert all(0 <= value < 3000 for value in acks)
    durations = [value for name, _, value in metrics if name == "SweepDuration"]
    assert len(durations) == counts[("SweepSucceeded", ())] + counts[("SweepFailed", ())]
