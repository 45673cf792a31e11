"""``audit verify --archive``: the S3 archive against the table, and the chain across both.

- Each request's archived events must form an intact chain on their own (domain.audit), so
  the archive proves the trail even for events DynamoDB's TTL has since deleted.
- Every event in the table must be in the archive with the same hash (an event not there yet
  is fine while its outbox item waits), and every archived event must still be in the table
  unless its retention ran out: a deleted or edited row, even a whole deleted request, is
  found from the archive.
- One event id archived twice with different content means an archive object was edited.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from cloud_access_bot.audit.queries import EVENT_READS
from cloud_access_bot.audit.verify import Finding, day_start, requests_to_check
from cloud_access_bot.domain import archive
from cloud_access_bot.domain.audit import verify_chain
from cloud_access_bot.domain.model import AuditEvent
from cloud_access_bot.ports import AuditStore


class ArchiveSource(Protocol):
    async def read(self, bucket: str, prefix: str, since_day: str | None) -> list[archive.Record]:
        """Every record in the archive's day partitions from ``since_day`` (all when None)."""

    async def queued(self) -> set[str]:
        """Event ids still waiting in the outbox."""


def archived_events(
    records: Sequence[archive.Record],
) -> tuple[dict[str, list[AuditEvent]], list[Finding]]:
    """Each request's archived events in seq order, duplicates dropped; conflicting copies."""
    seen: dict[str, AuditEvent] = {}
    findings = []
    for row in records:
        event = archive.event_of(row)
        first = seen.setdefault(str(row["event_id"]), event)
        if first != event:
            findings.append(
                Finding(
                    event.request_id,
                    f"the archive holds two different copies of event seq {event.seq}: "
                    "an archive object was edited",
                )
            )
    by_request: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in sorted(seen.values(), key=lambda e: (e.request_id, e.seq)):
        by_request[event.request_id].append(event)
    return dict(by_request), findings


def compare(
    archived: Sequence[AuditEvent],
    table: Sequence[AuditEvent] | None,
    *,
    queued: set[str],
    now: datetime,
    retention: timedelta,
) -> list[str]:
    """Problems of one request between its archived events and the table's (None: no request)."""
    problems = [f"in the archive: {p}" for p in verify_chain(archived)]
    if table is None:
        if archived:
            return [*problems, f"request deleted: the archive holds its {len(archived)} event(s)"]
        return problems
    in_table = {e.seq: e for e in table}
    in_archive = {e.seq: e for e in archived}
    for seq, event in sorted(in_table.items()):
        copy = in_archive.get(seq)
        if copy is None:
            if archive.event_id(event.request_id, seq) not in queued:
                problems.append(f"event seq {seq} ({event.type}) is not in the archive")
        elif copy.hash != event.hash:
            problems.append(
                f"event seq {seq} differs from its archived copy: the table's was edited "
                "(or the archive's)"
            )
    problems.extend(
        f"event seq {seq} ({event.type}) was deleted from the table; the archive has it"
        for seq, event in sorted(in_archive.items())
        if seq not in in_table and event.at + retention > now
    )
    return problems


async def verify_archive(
    store: AuditStore,
    source: ArchiveSource,
    *,
    bucket: str,
    prefix: str,
    since: datetime | None,
    now: datetime,
    retention: timedelta,
) -> list[Finding]:
    """Findings for the requests verify checks (created since the day of ``since``, all when
    None) and every request the archive's partitions from that day begin (seq 1 there)."""
    start = day_start(since)
    since_day = f"{start:%Y-%m-%d}" if start else None
    anchored = await store.anchored(start, now)
    table_ids = await requests_to_check(store, since=since, until=now, anchored=anchored)
    records, queued = await asyncio.gather(source.read(bucket, prefix, since_day), source.queued())
    by_request, findings = archived_events(records)
    begun = [i for i, events in by_request.items() if events[0].seq == 1 or since_day is None]
    ids = list(dict.fromkeys([*table_ids, *sorted(begun)]))
    limit = asyncio.Semaphore(EVENT_READS)

    async def check(request_id: str) -> list[str]:
        async with limit:
            request = await store.get(request_id)
            table = await store.events(request_id) if request is not None else None
        return compare(
            by_request.get(request_id, []), table, queued=queued, now=now, retention=retention
        )

    results = await asyncio.gather(*(check(i) for i in ids))
    return findings + [Finding(i, p) for i, found in zip(ids, results, strict=True) for p in found]
