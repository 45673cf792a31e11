"""The S3 archive of audit events: JSON Lines objects under ``<prefix>dt=YYYY-MM-DD/``.

Each drain pass writes one object per day it has events of, named by the time of its first
event and a random suffix (``20250304T101500.123456Z-<hex>.jsonl``), so objects never
overwrite one another (Object Lock would refuse that anyway) and sort roughly by time. The
records in an object are in request and seq order; a record seen twice (an object written
again after a crash) is the same record, told apart by nothing but being a duplicate.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from itertools import groupby

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.outbox import read_outbox
from cloud_access_bot.domain import archive

#: Objects read at once by ``read``.
READS = 16


def object_key(prefix: str, records: Sequence[archive.Record]) -> str:
    """Where a batch of one day's records goes."""
    first = str(records[0]["at"]).replace("-", "").replace(":", "")
    return f"{prefix}dt={archive.day(records[0])}/{first}-{uuid.uuid4().hex[:12]}.jsonl"


class S3Archive:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    async def write(self, bucket: str, prefix: str, records: Sequence[archive.Record]) -> None:
        """One object per day, oldest day first (a request's events stay in order)."""
        ordered = sorted(records, key=lambda r: (archive.day(r), r["request_id"], r["seq"]))
        async with self._clients.client("s3") as s3:
            for _, day_records in groupby(ordered, key=archive.day):
                batch = list(day_records)
                await s3.put_object(
                    Bucket=bucket,
                    Key=object_key(prefix, batch),
                    Body=archive.json_lines(batch).encode(),
                    ContentType="application/x-ndjson",
                    # Object Lock buckets refuse uploads without a checksum.
                    ChecksumAlgorithm="SHA256",
                )

    async def read(self, bucket: str, prefix: str, since_day: str | None) -> list[archive.Record]:
        """Every record of the day partitions from ``since_day`` (all when None), duplicates
        included, in key then line order."""
        after = f"{prefix}dt={since_day}/" if since_day else ""
        async with self._clients.client("s3") as s3:
            keys: list[str] = []
            async for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{prefix}dt=", StartAfter=after
            ):
                keys.extend(
                    o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".jsonl")
                )
            limit = asyncio.Semaphore(READS)

            async def body(key: str) -> str:
                async with limit:
                    answer = await s3.get_object(Bucket=bucket, Key=key)
                    async with answer["Body"] as stream:
                        data: bytes = await stream.read()
                return data.decode()

            texts = await asyncio.gather(*(body(k) for k in sorted(keys)))
        return [row for text in texts for row in archive.read_json_lines(text)]


class ArchiveOnAws(S3Archive):
    """What ``audit verify --archive`` reads: the S3 archive and the table's outbox."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        super().__init__(clients)
        self._table = table

    async def queued(self) -> set[str]:
        async with self._clients.client("dynamodb") as dynamodb:
            return {str(p.record["event_id"]) for p in await read_outbox(dynamodb, self._table)}
