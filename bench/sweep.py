"""The sweeper: the cost of one sweep over many active grants, and expiry → policy removed.

Active grants are written straight into the DynamoDB table (what the store holds after that many
approvals; going through the UI would take far longer than the measurement). Expiring ones
also get their real statements on the login roles through the app's granter, so the sweep does
the real IAM work for each.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from bench.grants import typical_access
from bench.report import Metric, percentile, rounded
from bench.world import DURATION_MINUTES, email
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.aws.store import DynamoStore, request_attributes, request_key
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest, EventType, Status, utcnow
from cloud_access_bot.runtime import BotRuntime, SlackConnection
from cloud_access_bot.service import EXPIRY_CONCURRENCY
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import REQUESTER, Sandbox

_serializer = TypeSerializer()
BATCH = 25  # DynamoDB's BatchWriteItem maximum
#: The sweep interval of a deployment that does not set one.
DEFAULT_SWEEP_INTERVAL_S = BotConfig.model_fields["sweep_interval_seconds"].default


def active_request(
    world: Sandbox, index: int, roles: Sequence[str], expires_at: datetime
) -> AccessRequest:
    """The ``index``-th ACTIVE grant: accounts and login roles taken in turn."""
    account = sorted(world.accounts)[index % len(world.accounts)]
    starts = expires_at - timedelta(minutes=DURATION_MINUTES)
    return AccessRequest(
        id=uuid.uuid4().hex[:12],
        requester_id=REQUESTER,
        requester_email=email(index),
        account_name=account,
        account_id=world.accounts[account].account_id,
        login_role=roles[index // len(world.accounts) % len(roles)],
        reason="Benchmark",
        duration_minutes=DURATION_MINUTES,
        services=(typical_access(world.accounts[account].buckets),),
        created_at=starts,
        status=Status.ACTIVE,
        version=3,
        decided_by=REQUESTER,
        decided_at=starts,
        starts_at=starts,
        expires_at=expires_at,
    )


def _item(request: AccessRequest) -> dict[str, Any]:
    values = {k: v for k, v in request_attributes(request).items() if v is not None}
    return request_key(request.id) | {k: _serializer.serialize(v) for k, v in values.items()}


async def store_directly(world: Sandbox, table: str, requests: Sequence[AccessRequest]) -> None:
    """Put request items as the store lays them out, 25 per BatchWriteItem, 8 batches at once."""
    gate = asyncio.Semaphore(8)

    async def batch(chunk: Sequence[AccessRequest]) -> None:
        unprocessed: dict[str, Any] = {table: [{"PutRequest": {"Item": _item(r)}} for r in chunk]}
        async with gate, world.clients.client("dynamodb") as dynamodb:
            while unprocessed:
                answer = await dynamodb.batch_write_item(RequestItems=unprocessed)
                unprocessed = answer.get("UnprocessedItems") or {}

    await asyncio.gather(*(batch(requests[i : i + BATCH]) for i in range(0, len(requests), BATCH)))


async def grant_for_real(world: Sandbox, requests: Sequence[AccessRequest]) -> None:
    """Write the requests' statements on their login roles with the app's granter."""
    config = world.config
    granter = InlinePolicyGranter(world.clients, config.policy_name_prefix)
    gate = asyncio.Semaphore(8)

    async def one(request: AccessRequest) -> None:
        account = config.accounts[request.account_name]
        assert request.starts_at is not None and request.expires_at is not None
        async with gate:
            await granter.grant(request, account, request.starts_at, request.expires_at)

    await asyncio.gather(*(one(r) for r in requests))


def idle_runtime(
    world: Sandbox, table: str, clients: AwsClients, expiry_concurrency: int
) -> BotRuntime:
    """The production wiring on ``table``, not started: its sweeper runs only when called."""
    config = world.config.model_copy(update={"dynamodb_table": table})
    return BotRuntime(
        slack=SlackConnection(
            app_token=world.emulator.app_token,
            bot_token=world.emulator.bot_token,
            api_url=world.emulator.api_url,
        ),
        config=lambda: config,
        clients=clients,
        expiry_concurrency=expiry_concurrency,
    )


async def one_sweep_ms(
    world: Sandbox,
    roles: Sequence[str],
    active: int,
    expired: int,
    *,
    table: str,
    clients: AwsClients | None = None,
    expiry_concurrency: int = EXPIRY_CONCURRENCY,
) -> float:
    """One sweep over ``active`` ACTIVE grants of which ``expired`` have ended, by a bot
    reaching AWS through ``clients`` (default: the sandbox's)."""
    runtime = idle_runtime(world, table, clients or world.clients, expiry_concurrency)
    try:
        await runtime.store.ensure_table()
        now = utcnow()
        ended = [
            active_request(world, i, roles, now - timedelta(seconds=60 - i % 50))
            for i in range(expired)
        ]
        running = [
            active_request(world, i, roles, now + timedelta(minutes=10 + i % 50))
            for i in range(expired, active)
        ]
        await grant_for_real(world, ended)
        await store_directly(world, runtime.store.table, ended + running)
        started = time.monotonic()
        report = await runtime.service.sweep()
        elapsed_ms = (time.monotonic() - started) * 1000
    finally:
        await runtime.stop(grace=0, close_clients=False)  # its Slack HTTP session
    if report.expired != expired or report.errors:
        raise RuntimeError(f"the sweep expired {report.expired} of {expired}: {report}")
    return elapsed_ms


async def sweep_with_aws_latency_ms(
    world: Sandbox, roles: Sequence[str], expired: int, delay_s: float
) -> tuple[float, float]:
    """(the sweep's ms, the same one removal at a time) with ``expired`` ended grants and every
    AWS call delayed by ``delay_s`` (a proxy in front of moto), as a real region's round trips
    would: what the sweep's concurrency buys when AWS, not the CPU, is the wait."""
    proxy = AwsFaultProxy(os.environ["AWS_ENDPOINT_URL"])
    await proxy.start()
    proxy.inject("delay", times=None, seconds=delay_s)
    clients = AwsClients(region=world.clients.region, endpoint_url=proxy.endpoint)
    try:
        timings = [
            await one_sweep_ms(
                world,
                roles,
                expired,
                expired,
                table=f"bench-sweep-latency-{concurrency}",
                clients=clients,
                expiry_concurrency=concurrency,
            )
            for concurrency in (EXPIRY_CONCURRENCY, 1)
        ]
    finally:
        await clients.close()
        await proxy.stop()
    return timings[0], timings[1]


async def revocation_lags(
    world: Sandbox, roles: Sequence[str], grants: int, interval_s: float
) -> list[float]:
    """Seconds from each grant's expiry to its EXPIRED event (the policy is removed just
    before it), with expiries spread evenly over one sweep interval of a running bot."""
    lead = 3.0
    first = utcnow() + timedelta(seconds=lead)
    step = interval_s / grants
    requests = [
        active_request(world, i, roles, first + timedelta(seconds=i * step)) for i in range(grants)
    ]
    table = world.config.dynamodb_table
    await DynamoStore(world.clients, table).ensure_table()
    await grant_for_real(world, requests)
    await store_directly(world, table, requests)
    await world.start_bot()
    store = world.runtime.store

    async def expired_at(request: AccessRequest) -> datetime | None:
        events = await store.events(request.id)
        return next((e.at for e in events if e.type is EventType.EXPIRED), None)

    deadline = time.monotonic() + lead + 2 * interval_s + 30
    while True:
        ends = await asyncio.gather(*(expired_at(r) for r in requests))
        if all(ends) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    missing = sum(end is None for end in ends)
    if missing:
        raise RuntimeError(f"{missing} of {grants} grants were not expired in time")
    return [
        (end - request.expires_at).total_seconds()
        for end, request in zip(ends, requests, strict=True)
        if end is not None and request.expires_at is not None
    ]


def sweep_metrics(
    big_ms: float, small_ms: float, big: int, small: int, expired: int
) -> list[Metric]:
    return [
        Metric(
            "sweep_ms_10k_active_100_expired",
            rounded(big_ms),
            "ms",
            target="grows with expired, not with active",
            note=f"{big} active, {expired} expired",
        ),
        Metric(
            "sweep_ms_1k_active_100_expired",
            rounded(small_ms),
            "ms",
            target="≈ the 10k figure",
            note=f"{small} active, {expired} expired",
        ),
    ]


def latency_sweep_metric(concurrent_ms: float, one_by_one_ms: float, expired: int) -> Metric:
    return Metric(
        "sweep_ms_40_expired_aws_50ms",
        rounded(concurrent_ms),
        "ms",
        baseline=rounded(one_by_one_ms),
        target="report (baseline: one removal at a time)",
        note=f"{expired} expired, every AWS call delayed",
    )


def revocation_metric(lags: Sequence[float]) -> Metric:
    return Metric("revocation_lag_p99_s", rounded(percentile(lags, 0.99)), "s", target="< 30 s")
