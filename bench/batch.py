"""A request over many accounts: one approval → every account ACTIVE, against the same accounts
approved and granted one at a time.

Every AWS call of the bot goes through the fault proxy with a fixed delay (a real region's
round trip), since what a batch's concurrency buys is waiting on AWS in many accounts at once.
The bot is the production wiring (BotRuntime) driven through its use cases; Slack is the
emulator (the DMs and card updates are sent for real).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.grants import typical_access
from bench.report import Metric, rounded
from bench.sweep import idle_runtime
from bench.world import DURATION_MINUTES
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.domain.model import Status
from cloud_access_bot.runtime import BotRuntime, settle_memory
from cloud_access_bot.service import Draft
from cloud_access_bot_sandbox.aws import SeededAccount, seed_account
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    LOGIN_ROLE,
    REQUESTER,
    Sandbox,
    sandbox,
    sandbox_config,
)

APPROVER = APPROVERS[0]


@dataclass(frozen=True)
class BatchScale:
    accounts: int
    runs: int  # batches measured (each a fresh request over every account)
    call_delay_s: float  # every AWS call of the bot, through the fault proxy


async def seed_many(world: Sandbox, count: int) -> list[SeededAccount]:
    return [
        await seed_account(
            world.clients,
            name=f"bench{index:02d}",
            account_id=f"5{index:011d}",
            login_role=LOGIN_ROLE,
            buckets=(f"bench{index:02d}-exports",),
            tables=(),
        )
        for index in range(count)
    ]


def drafts(accounts: Sequence[SeededAccount], run: str) -> list[Draft]:
    return [
        Draft(
            requester_id=REQUESTER,
            account_name=account.name,
            login_role=LOGIN_ROLE,
            reason="Benchmark: one request over many accounts",
            duration_minutes=DURATION_MINUTES,
            services=(typical_access(account.buckets),),
            submission_id=f"{run}#{account.name}",
        )
        for account in accounts
    ]


async def batch_ms(runtime: BotRuntime, accounts: Sequence[SeededAccount], run: str) -> float:
    """Approve click → every account ACTIVE, for one request over ``accounts``."""
    submitted = await runtime.batch.submit(drafts(accounts, run))
    if submitted.errors:
        raise RuntimeError(f"the batch was refused: {submitted.errors}")
    ids = [r.id for r in submitted.requests]
    started = time.monotonic()
    await runtime.batch.approve(ids[0], APPROVER)
    elapsed_ms = (time.monotonic() - started) * 1000
    await _all_active(runtime, ids)
    return elapsed_ms


async def one_at_a_time_ms(
    runtime: BotRuntime, accounts: Sequence[SeededAccount], run: str
) -> float:
    """The same accounts as one request each, approved and granted one after the other."""
    ids = []
    for draft in drafts(accounts, run):
        submitted = await runtime.service.submit(draft)
        if submitted.request is None:
            raise RuntimeError(f"the request was refused: {submitted.errors}")
        ids.append(submitted.request.id)
    started = time.monotonic()
    for request_id in ids:
        await runtime.service.approve(request_id, APPROVER)
    elapsed_ms = (time.monotonic() - started) * 1000
    await _all_active(runtime, ids)
    return elapsed_ms


async def _all_active(runtime: BotRuntime, ids: Sequence[str]) -> None:
    for request_id in ids:
        request = await runtime.store.get(request_id)
        if request is None or request.status is not Status.ACTIVE:
            raise RuntimeError(f"{request_id} is not ACTIVE: {request and request.status}")


@contextmanager
def memory_settled_as_run_does() -> Iterator[None]:
    """This process's garbage collector as ``cloud-access-bot run`` sets the bot's
    (``runtime.settle_memory``: what is loaded frozen, full collections ten times rarer), for
    the timed runs only; the bot here runs in the benchmark's process, which runs other
    groups before and after."""
    thresholds = gc.get_threshold()
    settle_memory()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def measure(scale: BatchScale, facts: dict[str, Any]) -> list[Metric]:
    """The figures; ``facts`` gets each run's times and the AWS calls one batch (submit + approve)
    makes (moto answers one request at a time, so they bound the batch's time here)."""
    async with sandbox(start=False) as world:
        accounts = await seed_many(world, scale.accounts)
        world.config = sandbox_config(
            accounts={
                a.name: {"account_number": a.account_id, "iam_role": a.bot_role_arn}
                for a in accounts
            },
            durations_minutes=[DURATION_MINUTES],
            max_accounts_per_request=max(2, scale.accounts),
            # One person holds every measured grant of every run on each account's role.
            max_grants_per_requester_role=2 * scale.runs + 1,
        )
        proxy = AwsFaultProxy(os.environ["AWS_ENDPOINT_URL"])
        await proxy.start()
        proxy.inject("delay", times=None, seconds=scale.call_delay_s)
        clients = AwsClients(region=world.clients.region, endpoint_url=proxy.endpoint)
        runtime = idle_runtime(world, "bench-batch", clients, expiry_concurrency=10)
        try:
            await runtime.store.ensure_table()
            # Warm-up, not counted: each account's role assumed once, the catalog and the
            # linter loaded, as in a bot that has been running.
            await one_at_a_time_ms(runtime, accounts, "warm-up")
            together, apart = [], []
            with memory_settled_as_run_does():
                for run in range(scale.runs):
                    calls = len(proxy.calls)
                    together.append(await batch_ms(runtime, accounts, f"batch{run}"))
                    facts["aws_calls_per_batch_submit_and_approve"] = len(proxy.calls) - calls
                    apart.append(await one_at_a_time_ms(runtime, accounts, f"single{run}"))
        finally:
            await runtime.stop(grace=0, close_clients=False)
            await clients.close()
            await proxy.stop()
    facts.update(
        batch_runs_ms=[rounded(t) for t in together],
        one_at_a_time_runs_ms=[rounded(t) for t in apart],
    )
    return batch_metrics(together, apart, scale)


def batch_metrics(
    together: Sequence[float], apart: Sequence[float], scale: BatchScale
) -> list[Metric]:
    batch_p50, apart_p50 = statistics.median(together), statistics.median(apart)
    delay_ms = round(scale.call_delay_s * 1000)
    return [
        Metric(
            "batch_approve_to_all_active_p50_ms",
            rounded(batch_p50),
            "ms",
            baseline=rounded(apart_p50),
            target="≥ 10× faster than one account at a time (baseline)",
            note=f"{scale.accounts} accounts, {scale.runs} runs, every AWS call delayed "
            f"{delay_ms} ms; {apart_p50 / batch_p50:.1f}× faster",
        ),
        Metric(
            "batch_speedup",
            rounded(apart_p50 / batch_p50),
            "×",
            target="≥ 10×",
            note=f"{scale.accounts} accounts one at a time ÷ one request over all of them",
        ),
    ]
