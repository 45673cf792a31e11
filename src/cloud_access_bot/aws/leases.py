"""Leases on the bot's DynamoDB table: one writer at a time across replicas.

IAM has no conditional write. Two replicas adding grants to one login role's packed policy at
the same instant could each read it, add their statement and write it back, the later write
dropping the earlier statement (ECS runs two tasks side by side during every deployment).
The granters hold the lease of the document they rewrite: an item ``pk=LEASE#<key>``,
``sk=LEASE`` that a conditional PutItem takes only while no other holder's lease is live.
It is given back by marking it expired (the bot's role needs no DeleteItem); a holder that
dies frees it when ``ttl`` runs out, and DynamoDB's TTL removes idle lease items a day later.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import error_code
from cloud_access_bot.aws.store import stamp
from cloud_access_bot.domain.model import utcnow
from cloud_access_bot.ports import GrantUnavailable

LEASE_SK = "LEASE"
#: Longer than any IAM read-modify-write the granters do, retries included.
LEASE_TTL = timedelta(seconds=30)
#: How long a writer waits for another replica's lease before giving up for now.
LEASE_WAIT_S = 20.0
#: Kept this long after its last use, then removed by DynamoDB's TTL.
IDLE_LEASE_KEPT = timedelta(days=1)
#: ``expires_at`` of a given-back lease: before every timestamp.
RELEASED = ""


class LeaseBusy(GrantUnavailable):
    """Another replica held the lease for longer than the wait: the request stays APPROVED and
    the sweeper grants it on a later pass."""


class DynamoLeases:
    def __init__(
        self,
        clients: AwsClients,
        table: str,
        *,
        ttl: timedelta = LEASE_TTL,
        wait_seconds: float = LEASE_WAIT_S,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clients = clients
        self._table = table
        self._ttl = ttl
        self._wait = wait_seconds
        self._clock = clock

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Run the block while holding the lease on ``key``; raises LeaseBusy after waiting
        ``wait_seconds`` for another holder."""
        item_key = {"pk": {"S": f"LEASE#{key}"}, "sk": {"S": LEASE_SK}}
        owner = uuid.uuid4().hex
        give_up = time.monotonic() + self._wait
        while not await self._take(item_key, owner):
            if time.monotonic() >= give_up:
                raise LeaseBusy(f"Another copy of the bot is still changing {key}.")
            await asyncio.sleep(random.uniform(0.05, 0.25))
        try:
            yield
        finally:
            await self._give_back(item_key, owner)

    async def _take(self, item_key: dict[str, Any], owner: str) -> bool:
        now = self._clock()
        return await self._conditional_write(
            "put_item",
            Item=item_key
            | {
                "owner": {"S": owner},
                "expires_at": {"S": stamp(now + self._ttl)},
                "ttl": {"N": str(int((now + IDLE_LEASE_KEPT).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": {"S": stamp(now)}},
        )

    async def _give_back(self, item_key: dict[str, Any], owner: str) -> None:
        """Mark the lease expired, unless it ran out and another holder has it now."""
        await self._conditional_write(
            "update_item",
            Key=item_key,
            UpdateExpression="SET expires_at = :released",
            ConditionExpression="#owner = :me",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":released": {"S": RELEASED}, ":me": {"S": owner}},
        )

    async def _conditional_write(self, operation: str, **params: Any) -> bool:
        """Whether the conditional write ``operation`` was made (False: its condition failed)."""
        try:
            async with self._clients.client("dynamodb") as dynamodb:
                await getattr(dynamodb, operation)(TableName=self._table, **params)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
