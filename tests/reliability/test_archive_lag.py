"""Archive lag: from a state change committed to its record written in S3, with every AWS call
slowed by the fault proxy (0, 20 and 100 ms), while the drainer runs its production loop
(OutboxDrainer.run).

The writer below is the real S3Archive; it only notes when each record's object was written.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import Sequence

import pytest

from cloud_access_bot.aws.archive import S3Archive
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.drainer import OutboxDrainer
from cloud_access_bot.aws.events import EventBridgePublisher
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain import archive
from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.metrics import Recorder
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from tests.integration.test_archive import pending

BUCKET = "acme-audit"
REQUESTS = 25
CONFIG = BotConfig.model_validate(
    {
        "loginRoles": ["Developer"],
        "approvalGroups": ["sre"],
        "accounts": {
            "dev": {
                "account_number": "111111111111",
                "iam_role": "arn:aws:iam::111111111111:role/bot",
            }
        },
        "audit_archive": {"bucket": BUCKET, "prefix": "events/"},
    }
)


class Noting(S3Archive):
    """S3Archive, noting when each record was written."""

    def __init__(self, clients: AwsClients) -> None:
        super().__init__(clients)
        self.written: dict[str, float] = {}
        self.expected: set[str] = set()
        self.complete = asyncio.Event()

    def expect(self, event_ids: set[str]) -> None:
        self.expected = event_ids
        self._check()

    def _check(self) -> None:
        if self.expected and self.expected <= self.written.keys():
            self.complete.set()

    async def write(self, bucket: str, prefix: str, records: Sequence[archive.Record]) -> None:
        await super().write(bucket, prefix, records)
        now = time.monotonic()
        for record in records:
            self.written.setdefault(str(record["event_id"]), now)
        self._check()


@pytest.mark.slow
@pytest.mark.parametrize("latency", [0.0, 0.02, 0.1])
async def test_archive_lag_with_aws_latency(aws_faults: AwsFaultProxy, latency: float) -> None:
    clients = AwsClients(region="eu-west-1")
    try:
        store = DynamoStore(clients, "cab-lag", outbox=lambda: True, queued=lambda: drainer.wake())
        await store.ensure_table()
        async with clients.client("s3") as s3:
            await s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        if latency:
            aws_faults.inject("delay", times=None, seconds=latency)
        writer = Noting(clients)
        drainer = OutboxDrainer(
            clients,
            "cab-lag",
            config=lambda: CONFIG,
            writer=writer,
            publisher=EventBridgePublisher(clients),
            metrics=Recorder(),
        )
        stopping = asyncio.Event()
        loop = asyncio.create_task(drainer.run(stopping))
        committed: dict[str, float] = {}
        rng = random.Random(19)

        async def lifecycle(n: int) -> None:
            current = await store.create(pending(f"{n:012x}"), "U1", {})
            committed[archive.event_id(current.id, 1)] = time.monotonic()
            for status, event in (
                (Status.APPROVED, EventType.APPROVED),
                (Status.ACTIVE, EventType.GRANTED),
                (Status.REVOKED, EventType.REVOKED),
            ):
                await asyncio.sleep(rng.uniform(0, 0.5))
                current = await store.commit(
                    current, current.with_changes(status=status), event, "U2", {}
                )
                committed[archive.event_id(current.id, current.version)] = time.monotonic()

        await asyncio.gather(*(lifecycle(n) for n in range(REQUESTS)))
        writer.expect(set(committed))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(writer.complete.wait(), 30)
        stopping.set()
        drainer.wake()
        await loop

        lost = set(committed) - set(writer.written)
        lags = sorted(writer.written[k] - committed[k] for k in committed if k in writer.written)
        p50 = statistics.median(lags)
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"archive lag with {latency * 1000:.0f} ms per AWS call: {len(lags)} events, "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms, "
            f"lost {len(lost)}"
        )
        assert not lost
        # The lag itself is a figure, not a bound: moto on a shared machine sets it (woken by
        # each commit, a change waits for the pass in progress and its own).
    finally:
        await clients.close()
