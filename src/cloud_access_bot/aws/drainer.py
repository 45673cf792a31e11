"""The loop that empties the outbox (aws.outbox) into the S3 archive and the event bus.

A drain pass (``OutboxDrainer.drain``) reads the outbox in key order (so each request's
events come in seq order), writes the records not yet archived to S3, puts each
event on the bus, and deletes the items delivered everywhere configured. An item archived
whose event the bus refused is marked ``archived`` and retried on the next pass; a request
whose event failed holds back its later events in that pass, so they are not sent out of
order. Replicas take turns by the lease ``outbox`` (aws.leases); should two ever overlap, the
worst case is a record delivered twice, harmless because each carries its ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import error_code
from cloud_access_bot.aws.leases import DynamoLeases, LeaseBusy
from cloud_access_bot.aws.outbox import Pending, read_outbox
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain import archive
from cloud_access_bot.domain.model import parse_iso, utcnow
from cloud_access_bot.ports import Metrics

log = logging.getLogger(__name__)

#: Items read per pass; a backlog drains over several passes.
PAGE = 500
#: PutEvents takes at most ten entries.
BUS_BATCH = 10
#: The outbox lease: a replica killed mid-pass delays the other's drains at most this long,
#: and a pass outrunning it costs at most duplicates.
LEASE_TTL = timedelta(seconds=10)
#: Seconds between drains when the last one delivered nothing.
DRAIN_INTERVAL = 2.0
ARCHIVE = "archive"
EVENT_BUS = "event_bus"


class ArchiveWriter(Protocol):
    async def write(self, bucket: str, prefix: str, records: Sequence[archive.Record]) -> None:
        """Write the records (in the given order) as JSON Lines objects; raise on failure."""


class EventPublisher(Protocol):
    async def publish(self, bus: str, records: Sequence[archive.Record]) -> list[bool]:
        """Put one event per record on ``bus``; which entries were accepted."""


@dataclass
class DrainReport:
    archived: int = 0
    published: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    #: Seconds from the oldest delivered event's time to its delivery (None: none delivered).
    lag_seconds: float | None = None


class OutboxDrainer:
    def __init__(
        self,
        clients: AwsClients,
        table: str,
        *,
        config: Callable[[], BotConfig],
        writer: ArchiveWriter,
        publisher: EventPublisher,
        metrics: Metrics,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clients = clients
        self._table = table
        self._config = config
        self._writer = writer
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self._leases = DynamoLeases(clients, table, ttl=LEASE_TTL, wait_seconds=0, clock=clock)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Drain now (the store queued an event): this replica's changes need not wait out
        the interval, which remains for the other replica's."""
        self._wake.set()

    async def run(self, stopping: asyncio.Event, interval: float = DRAIN_INTERVAL) -> None:
        """Drain until ``stopping``: at once again while passes deliver, else when woken or
        every ``interval``."""
        while not stopping.is_set():
            self._wake.clear()
            busy = False
            try:
                report = await self.drain()
                busy = bool(report.archived or report.published) and not report.failed
            except Exception:
                log.exception("outbox drain failed; retrying")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)

    async def drain(self) -> DrainReport:
        """One pass; another replica draining right now makes this one a no-op."""
        config = self._config()
        if config.audit_archive is None and config.event_bus is None:
            return DrainReport()
        try:
            async with self._leases.hold("outbox"):
                return await self._deliver(config, await self.pending())
        except LeaseBusy:
            return DrainReport()

    async def pending(self) -> list[Pending]:
        """The first PAGE items, each request's in seq order."""
        async with self._clients.client("dynamodb") as dynamodb:
            return await read_outbox(dynamodb, self._table, PAGE)

    async def _deliver(self, config: BotConfig, items: list[Pending]) -> DrainReport:
        report = DrainReport()
        if not items:
            return report
        archived = {id(p) for p in items if p.archived or config.audit_archive is None}
        if config.audit_archive is not None:
            fresh = [p for p in items if id(p) not in archived]
            try:
                if fresh:
                    bucket, prefix = config.audit_archive.bucket, config.audit_archive.prefix
                    await self._writer.write(bucket, prefix, [p.record for p in fresh])
            except Exception as error:  # any failure: the items stay queued
                log.warning("audit archive: writing %d event(s) failed: %s", len(fresh), error)
                self._metrics.delivered(ARCHIVE, delivered=0, failed=len(fresh))
                report.failed[ARCHIVE] = len(fresh)
                return report
            archived.update(id(p) for p in fresh)
            report.archived = len(fresh)
            self._metrics.delivered(ARCHIVE, delivered=len(fresh), failed=0)
        published = await self._publish(config.event_bus, items, report)
        done = [p for p in items if id(p) in archived and id(p) in published]
        only_archived = [p for p in items if id(p) in archived and id(p) not in published]
        await self._settle(done, [p for p in only_archived if not p.archived])
        if done:
            oldest = min(parse_iso(p.record["at"]) for p in done)
            report.lag_seconds = (self._clock() - oldest).total_seconds()
        return report

    async def _publish(
        self, bus: str | None, items: list[Pending], report: DrainReport
    ) -> set[int]:
        """Ids of the items whose event the bus accepted (all of them when no bus is set)."""
        if bus is None:
            return {id(p) for p in items}
        accepted: set[int] = set()
        held: set[str] = set()
        sendable = list(items)
        while sendable:
            batch = [p for p in sendable[:BUS_BATCH] if p.request_id not in held]
            sendable = sendable[BUS_BATCH:]
            if not batch:
                continue
            try:
                answers = await self._publisher.publish(bus, [p.record for p in batch])
            except Exception as error:  # the bus is down: retry next pass
                log.warning("event bus %s: putting %d event(s) failed: %s", bus, len(batch), error)
                answers = [False] * len(batch)
            for pending, ok in zip(batch, answers, strict=True):
                if ok:
                    accepted.add(id(pending))
                else:
                    held.add(pending.request_id)
            failed = answers.count(False)
            report.published += len(batch) - failed
            report.failed[EVENT_BUS] = report.failed.get(EVENT_BUS, 0) + failed
            self._metrics.delivered(EVENT_BUS, delivered=len(batch) - failed, failed=failed)
        return accepted

    async def _settle(self, done: list[Pending], archived: list[Pending]) -> None:
        """Delete what is delivered everywhere; mark what only the archive has."""
        async with self._clients.client("dynamodb") as dynamodb:
            await asyncio.gather(
                *(dynamodb.delete_item(TableName=self._table, Key=p.key) for p in done),
                *(self._mark_archived(dynamodb, p) for p in archived),
            )

    async def _mark_archived(self, dynamodb: Any, pending: Pending) -> None:
        try:
            await dynamodb.update_item(
                TableName=self._table,
                Key=pending.key,
                UpdateExpression="SET archived = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        except ClientError as exc:  # another replica delivered and deleted it meanwhile
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
