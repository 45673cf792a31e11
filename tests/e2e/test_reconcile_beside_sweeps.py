"""Reconciliation runs beside the sweeper: with thousands of accounts a pass takes minutes,
and expiries must not wait for it. With every IAM read of reconciliation held for seconds,
sweeps still complete on time."""

from __future__ import annotations

import time

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import ManualClock, sandbox

IAM_DELAY_S = 6.0


async def test_sweeps_complete_while_a_slow_reconcile_runs(aws: str, clock: ManualClock) -> None:
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    proxy.inject("delay", "iam", "ListRolePolicies", times=None, seconds=IAM_DELAY_S)
    async with sandbox(clock=clock, start=False) as world:
        direct, world.clients = (
            world.clients,
            AwsClients(region="eu-west-1", endpoint_url=proxy.endpoint),
        )
        try:
            runtime = await world.start_bot()

            async def reconciling() -> bool:
                return bool(proxy.calls_to("iam", "ListRolePolicies"))

            # The first sweep starts a reconcile, whose IAM reads now wait IAM_DELAY_S.
            await world.wait_for(reconciling, "a reconcile to begin", timeout=30)
            began, before = time.monotonic(), runtime.health.last_sweep_at

            async def swept_again() -> bool:
                return runtime.health.last_sweep_at != before

            await world.wait_for(swept_again, "a sweep during the reconcile", timeout=30)
            assert time.monotonic() - began < IAM_DELAY_S - 1
        finally:
            await direct.close()
    await proxy.stop()
