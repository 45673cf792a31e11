"""Runs every group of metrics in turn, each on a freshly reset moto, and reports them."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import (
    batch,
    bot_process,
    discovery,
    grants,
    identity_center,
    organizations,
    process,
    slack_load,
    sweep,
)
from bench.aws_server import reset_moto
from bench.discovery import DiscoveryScale
from bench.report import LoadAverage, Metric, combined, load_average, table, write_results
from bench.world import bench_world


@dataclass(frozen=True)
class Scale:
    users: int  # simulated people doing the whole flow at once, at a person's pace
    pace_s: tuple[float, float]  # (low, high) pause before each step of a paced person
    saturating_users: int  # more people, each acting as fast as the bot answers…
    concurrency: int  # …at most this many flows in progress at once
    roles: int  # extra login roles per account the users spread over
    option_rounds: int
    sequential_approvals: int
    concurrent_approvals: int
    discovery: DiscoveryScale
    baseline_accounts: int  # accounts the sequential discovery runs over (scaled up)
    overflow: bool  # whether the shared-role fill may use the overflow managed policies
    sweep_active: int
    sweep_active_small: int
    sweep_expired: int
    latency_expired: int  # ended grants of the sweep whose AWS calls are delayed…
    aws_delay_s: float  # …by this much each
    revocation_grants: int
    sweep_interval_s: int
    starts: int
    organization: organizations.OrgScale
    batch: batch.BatchScale


FULL = Scale(
    users=200,
    pace_s=(0.5, 2.5),
    saturating_users=200,
    concurrency=20,
    roles=20,
    option_rounds=10,
    sequential_approvals=20,
    concurrent_approvals=100,
    discovery=DiscoveryScale(accounts=20, regions=4, call_delay=0.1),
    baseline_accounts=2,
    overflow=True,
    sweep_active=10_000,
    sweep_active_small=1_000,
    sweep_expired=100,
    latency_expired=40,
    aws_delay_s=0.05,
    revocation_grants=60,
    sweep_interval_s=sweep.DEFAULT_SWEEP_INTERVAL_S,
    starts=3,
    organization=organizations.OrgScale(accounts=5000, units=50, queries=300, call_delay_s=0.05),
    batch=batch.BatchScale(accounts=20, runs=3, call_delay_s=0.05),
)

SMOKE = Scale(
    users=3,
    pace_s=(0.0, 0.05),
    saturating_users=3,
    concurrency=3,
    roles=2,
    option_rounds=1,
    sequential_approvals=2,
    concurrent_approvals=3,
    discovery=DiscoveryScale(accounts=2, regions=1, call_delay=0.01),
    baseline_accounts=1,
    overflow=False,
    sweep_active=100,
    sweep_active_small=50,
    sweep_expired=10,
    latency_expired=4,
    aws_delay_s=0.01,
    revocation_grants=4,
    sweep_interval_s=1,
    starts=1,
    organization=organizations.OrgScale(
        accounts=20, units=4, queries=6, call_delay_s=0.01, discovery_runs=1
    ),
    batch=batch.BatchScale(accounts=2, runs=1, call_delay_s=0.01),
)


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)


async def slack_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    """The bot in its own process, as in production: the emulator and the simulated people,
    here, must not be counted as the bot's work."""
    async with (
        bench_world(
            users=scale.users + scale.saturating_users,
            roles=scale.roles,
            start=False,
            sweep_interval_seconds=scale.sweep_interval_s,
        ) as (world, people, roles),
        bot_process.running_bot_of(world),
    ):
        paced_people, hurried_people = people[: scale.users], people[scale.users :]
        with slack_load.no_gc_pauses():
            paced = await slack_load.load(
                world, paced_people, roles, concurrency=scale.users, pace=scale.pace_s
            )
            saturated = await slack_load.load(world, hurried_people, roles, scale.concurrency)
            options_ms = await slack_load.options_latencies(world, people[0], scale.option_rounds)
        facts["slack_problems"] = list(world.emulator.problems)
    for name, run in (("paced", paced), ("saturated", saturated)):
        facts[name] = {
            "envelopes": dict(run.envelopes),
            "seconds": round(run.seconds, 1),
            "envelopes_per_s": round(sum(run.envelopes.values()) / run.seconds, 1),
            "failed_flows": run.failures,
        }
        if run.failures:
            print(f"{len(run.failures)} {name} flow(s) failed: {run.failures[0]}", file=sys.stderr)
    return slack_load.load_metrics(paced, saturated, options_ms)


async def grants_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    """On a fresh moto: moto's DynamoDB transactions slow down as its tables grow."""
    people = scale.sequential_approvals + scale.concurrent_approvals
    async with bench_world(users=people, roles=scale.roles) as (world, users, roles):
        return await grants.measure_in_world(
            world,
            users,
            roles,
            sequential=scale.sequential_approvals,
            concurrent=scale.concurrent_approvals,
        )


async def shared_role_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    return await grants.measure_shared_role("cloud-access-bot-", overflow=scale.overflow)


async def discovery_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    metrics, units = await discovery.measure(scale.discovery, scale.baseline_accounts)
    facts["discovery_units"] = units
    return metrics


async def sweep_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    async with bench_world(users=0, roles=scale.roles, start=False) as (world, _, roles):
        sizes = (scale.sweep_active, scale.sweep_active_small)
        big, small = [
            await sweep.one_sweep_ms(
                world, roles, active, scale.sweep_expired, table=f"bench-sweep-{active}"
            )
            for active in sizes
        ]
        concurrent, one_by_one = await sweep.sweep_with_aws_latency_ms(
            world, roles, scale.latency_expired, scale.aws_delay_s
        )
    return [
        *sweep.sweep_metrics(big, small, *sizes, scale.sweep_expired),
        sweep.latency_sweep_metric(concurrent, one_by_one, scale.latency_expired),
    ]


async def revocation_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    interval = scale.sweep_interval_s
    async with bench_world(
        users=0, roles=scale.roles, start=False, sweep_interval_seconds=interval
    ) as (world, _, roles):
        lags = await sweep.revocation_lags(world, roles, scale.revocation_grants, interval)
    facts["sweep_interval_s"] = interval
    return [sweep.revocation_metric(lags)]


async def process_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    return await process.measure(scale.starts)


async def organizations_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    return await organizations.measure(scale.organization, facts)


async def batch_group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    return await batch.measure(scale.batch, facts)


Group = Callable[[Scale, dict[str, Any]], Awaitable[list[Metric]]]
#: The groups of latency figures, run ``repeat`` times (each on a reset moto) and reported as
#: the median with its min–max: one run's tail says more about the machine than the bot.
REPEATED = frozenset({"slack", "grants", "revocation"})
DEFAULT_REPEAT = 3
GROUPS: dict[str, Group] = {
    "slack": slack_group,
    "grants": grants_group,
    "shared_role": shared_role_group,
    "discovery": discovery_group,
    "sweep": sweep_group,
    "revocation": revocation_group,
    "process": process_group,
    "organizations": organizations_group,
    "identity_center": identity_center.group,
    "batch": batch_group,
}


async def run(
    scale: Scale,
    endpoint: str,
    output: Path | None,
    mode: str,
    groups: Sequence[str] = tuple(GROUPS),
    repeat: int = 1,
) -> tuple[list[Metric], dict[str, Any]]:
    """The ``groups``, each on a reset moto, those of ``REPEATED`` ``repeat`` times; prints
    the table and writes ``output`` (if given). Each run's facts, time and load average (at
    its end) go under ``_run.groups.<name>``."""
    progress = Progress()
    metrics: list[Metric] = []
    facts: dict[str, Any] = {"mode": mode, "scale": asdict(scale), "repeat": repeat, "groups": {}}
    for name in groups:
        times = repeat if name in REPEATED else 1
        runs: list[tuple[list[Metric], LoadAverage]] = []
        facts["groups"][name] = []
        for index in range(times):
            await reset_moto(endpoint)
            progress.say(f"{name} ({index + 1}/{times})…" if times > 1 else f"{name}…")
            started = time.monotonic()
            run_facts: dict[str, Any] = {}
            group_metrics = await GROUPS[name](scale, run_facts)
            load = load_average()
            run_facts.update(seconds=round(time.monotonic() - started, 1), loadavg=list(load))
            facts["groups"][name].append(run_facts)
            runs.append((group_metrics, load))
        metrics += combined(runs)
    facts["seconds"] = round(time.monotonic() - progress.started, 1)
    progress.say("done")
    print(table(metrics))
    if output is not None:
        write_results(output, metrics, {"_run": facts})
    return metrics, facts
