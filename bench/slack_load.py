"""Slack responsiveness: ack latencies under load and options (block_suggestion) latencies.

Latencies are the emulator's own records (``SlackEmulator.acks``): envelope written to the real
Socket Mode WebSocket → ack read back. The bot runs in its own process (``bench.bot_process``),
as in production; the emulator and the simulated people run in this one, so its own delays
(and those of moto, sharing the machine's two cores) are still counted: pessimistic figures.
One delay of this process is not: its garbage collector, paused while the acks are measured
(``no_gc_pauses``). Its heap (every envelope, ack and Web API call the emulator records) grows
to 400k objects, and each full collection stopped the emulator for 50–150 ms with acks in
flight: the tail of ``ack_latency_p99_ms`` was the emulator's, not the bot's.

Two loads: 200 people at once, each pausing like a person before every step (the figure the
target is about), and 200 more who act as fast as the bot answers, 20 at a time, which
saturates the bot and shows how acks degrade when it cannot keep up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from bench.report import Metric, percentile, rounded
from bench.world import (
    DURATION_MINUTES,
    TYPICAL_ACTIONS,
    TYPICAL_SERVICE,
    WAIT_S,
    Inbox,
    button_value,
    granted_count,
)
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, Sandbox, Think, no_pause
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator

APPROVER = APPROVERS[0]
SERVICE_QUERIES = ("", "s", "s3", "ec2", "dynamo", "lambda", "iam", "kms", "sqs", "logs")
#: ec2 has the most actions of any service: the largest action lists the catalog produces.
ACTION_QUERIES = ("", "Describe", "Instance", "Get", "Create", "Delete", "Modify", "Vpc")
RESOURCE_QUERIES = ("", "acme", "exports", "logs", "development", "zzz")
SUGGESTION = "block_suggestion"


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
    """No automatic garbage collection in this process (the emulator's) while the block runs:
    what is alive is frozen first, the garbage made meanwhile is collected afterwards. Only for
    a block where the bot runs in its own process: the bot's collections must still count."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


def envelope_kind(envelope: dict[str, object]) -> str:
    payload = envelope.get("payload")
    kind = payload.get("type") if isinstance(payload, dict) else None
    return str(kind or envelope.get("type"))


def ack_samples(
    emulator: SlackEmulator, since: int, kinds: Iterable[str] | None = None
) -> list[float]:
    """Latencies (ms) of the acks recorded after index ``since``, of envelopes of ``kinds``."""
    wanted = set(kinds) if kinds is not None else None
    kind_of = {str(e["envelope_id"]): envelope_kind(e) for e in emulator.envelopes}
    return [
        ack.latency_ms
        for ack in emulator.acks[since:]
        if ack.latency_ms is not None and (wanted is None or kind_of.get(ack.envelope_id) in wanted)
    ]


@dataclass
class LoadRun:
    envelopes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    suggestion_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    granted: int = 0
    seconds: float = 0.0


def human_pace(seed: int, low_s: float, high_s: float) -> Think:
    """Pauses drawn uniformly from [low_s, high_s] (a person reading, choosing, typing)."""
    rng = random.Random(seed)

    async def think() -> None:
        await asyncio.sleep(rng.uniform(low_s, high_s))

    return think


async def one_user(
    world: Sandbox, user: str, account: str, role: str, approvals: Inbox, think: Think
) -> None:
    """The whole flow of one person, then the approver's click on their request."""
    bucket_names = list(world.accounts[account].buckets)
    ack = await world.request(
        user=user,
        account=account,
        service=TYPICAL_SERVICE,
        actions=TYPICAL_ACTIONS,
        resources=bucket_names,
        duration=DURATION_MINUTES,
        login_role=role,
        think=think,
    )
    if ack.get("response_action") == "errors":
        raise RuntimeError(f"the modal refused {user}'s request: {ack['errors']}")
    mine = await world.emulator.wait_for_message(
        user, lambda m: button_value(m, views.CANCEL_ACTION) is not None, WAIT_S
    )
    request_id = button_value(mine, views.CANCEL_ACTION)
    assert request_id is not None
    dm = await approvals.wait(request_id)
    await think()
    await world.click(APPROVER, dm, views.APPROVE_ACTION)


async def load(
    world: Sandbox,
    users: Sequence[str],
    roles: Sequence[str],
    concurrency: int,
    pace: tuple[float, float] | None = None,
) -> LoadRun:
    """Every user does the whole flow; at most ``concurrency`` flows run at once, each pausing
    ``pace`` (low, high seconds) before every step, or not at all."""
    emulator = world.emulator
    since = len(emulator.acks)
    first_envelope = len(emulator.envelopes)
    approvals = Inbox(emulator, APPROVER, views.APPROVE_ACTION)
    accounts = sorted(world.accounts)
    gate = asyncio.Semaphore(concurrency)
    run = LoadRun()

    async def bounded(index: int, user: str) -> None:
        async with gate:
            try:
                account = accounts[index % len(accounts)]
                think = human_pace(index, *pace) if pace else no_pause
                role = roles[index % len(roles)]
                await one_user(world, user, account, role, approvals, think)
            except Exception as error:
                run.failures.append(f"{user}: {type(error).__name__}: {error}")

    started = time.monotonic()
    await asyncio.gather(*(bounded(i, user) for i, user in enumerate(users)))
    run.seconds = time.monotonic() - started
    with_approval = len(users) - len(run.failures)
    try:
        await emulator.wait_until(
            lambda: granted_count(emulator, users) >= with_approval, WAIT_S, "every grant"
        )
    except TimeoutError as error:
        run.failures.append(str(error))
    run.granted = granted_count(emulator, users)
    run.envelopes = Counter(envelope_kind(e) for e in emulator.envelopes[first_envelope:])
    run.latencies_ms = ack_samples(emulator, since)
    run.suggestion_ms = ack_samples(emulator, since, [SUGGESTION])
    return run


async def options_latencies(world: Sandbox, user: str, rounds: int) -> list[float]:
    """Suggestions one person triggers in a quiet bot: services, ec2's actions (the largest
    lists) and s3 resources once discovery is warm."""
    emulator = world.emulator
    await emulator.slash_command(user, f"/{world.config.request_command}")
    modal = await emulator.wait_for_view(user, views.REQUEST_CALLBACK)
    await modal.suggest(views.ACCOUNT_ACTION, "development")
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()

    async def pick_service(service: str) -> None:
        await modal.suggest(views.SERVICE_ACTION, service)
        await modal.select(views.SERVICE_ACTION, service)
        await modal.wait_updated()

    await pick_service("ec2")
    warmup = len(emulator.acks)
    for _ in range(rounds):
        for query in SERVICE_QUERIES:
            await modal.suggest(views.SERVICE_ACTION, query)
        for query in ACTION_QUERIES:
            await modal.suggest(views.ACTIONS_ACTION, query)
    samples = ack_samples(emulator, warmup, [SUGGESTION])
    await pick_service(TYPICAL_SERVICE)
    await modal.suggest(views.RESOURCES_ACTION, "")  # waits for discovery: the cache is warm
    warm = len(emulator.acks)
    for _ in range(rounds):
        for query in RESOURCE_QUERIES:
            await modal.suggest(views.RESOURCES_ACTION, query)
    samples += ack_samples(emulator, warm, [SUGGESTION])
    await modal.close()
    return samples


def load_metrics(paced: LoadRun, saturated: LoadRun, options_ms: Sequence[float]) -> list[Metric]:
    """Failed flows do not stop the run (the runner records them); no acks at all does."""
    return [
        Metric(
            "ack_latency_p50_ms",
            rounded(statistics.median(paced.latencies_ms)),
            "ms",
            target="report",
        ),
        Metric(
            "ack_latency_p99_ms",
            rounded(percentile(paced.latencies_ms, 0.99)),
            "ms",
            target="< 50 ms (Slack allows 3,000)",
        ),
        Metric(
            "ack_latency_p99_ms_saturated",
            rounded(percentile(saturated.latencies_ms, 0.99)),
            "ms",
            target="report",
        ),
        Metric(
            "options_latency_p99_ms",
            rounded(percentile(options_ms, 0.99)),
            "ms",
            target="< 100 ms",
        ),
        Metric(
            "options_latency_p99_ms_under_load",
            rounded(percentile(paced.suggestion_ms, 0.99)),
            "ms",
            target="report",
        ),
    ]
