"""DynamoDB leases between replicas (each replica: its own AwsClients), against moto."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.aws.leases import DynamoLeases, LeaseBusy
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.domain.model import utcnow
from tests.factories import access_request
from tests.integration.target_account import (
    END,
    LOGIN_ROLE,
    PREFIX,
    START,
    TARGET,
    create_role,
)

TABLE = "leases"
KEY = f"{TARGET.account_number}:role:{LOGIN_ROLE}"


@pytest.fixture
async def replicas(aws: str) -> AsyncIterator[tuple[AwsClients, AwsClients]]:
    """Two processes' worth of clients on one table."""
    first, second = AwsClients(region="eu-west-1"), AwsClients(region="eu-west-1")
    await DynamoStore(first, TABLE).ensure_table()
    yield first, second
    await first.close()
    await second.close()


async def lease_owner(clients: AwsClients, key: str) -> str | None:
    """Who holds the lease on ``key`` as the table says (None: no holder, or given back)."""
    async with clients.client("dynamodb") as dynamodb:
        found = await dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"LEASE#{key}"}, "sk": {"S": "LEASE"}}
        )
    item = found.get("Item")
    return item["owner"]["S"] if item and item["expires_at"]["S"] else None


async def test_a_second_replica_waits_until_the_lease_is_given_back(
    replicas: tuple[AwsClients, AwsClients],
) -> None:
    first, second = (DynamoLeases(clients, TABLE) for clients in replicas)
    order: list[str] = []

    async def later() -> None:
        async with second.hold(KEY):
            order.append("second")

    async with first.hold(KEY):
        waiting = asyncio.create_task(later())
        await asyncio.sleep(0.5)
        order.append("first done")
    await asyncio.wait_for(waiting, 10)

    assert order == ["first done", "second"]


async def test_other_keys_are_not_held_up(replicas: tuple[AwsClients, AwsClients]) -> None:
    first, second = (DynamoLeases(clients, TABLE, wait_seconds=0.5) for clients in replicas)
    other = f"{KEY}-other"

    async with first.hold(KEY), second.hold(other):
        owners = [await lease_owner(replicas[0], key) for key in (KEY, other)]

    assert None not in owners and owners[0] != owners[1]
    assert [await lease_owner(replicas[0], key) for key in (KEY, other)] == [None, None]


async def test_waiting_longer_than_the_wait_is_lease_busy(
    replicas: tuple[AwsClients, AwsClients],
) -> None:
    first = DynamoLeases(replicas[0], TABLE)
    impatient = DynamoLeases(replicas[1], TABLE, wait_seconds=0.3)

    async with first.hold(KEY):
        with pytest.raises(LeaseBusy):
            async with impatient.hold(KEY):
                pass


async def test_the_lease_of_a_holder_that_died_is_taken_once_it_runs_out(
    replicas: tuple[AwsClients, AwsClients],
) -> None:
    died = DynamoLeases(replicas[0], TABLE, ttl=timedelta(seconds=30))
    holding = died.hold(KEY)
    await holding.__aenter__()  # and never gives it back
    dead_owner = await lease_owner(replicas[0], KEY)
    later = DynamoLeases(
        replicas[1], TABLE, wait_seconds=0.3, clock=lambda: utcnow() + timedelta(seconds=31)
    )

    async with later.hold(KEY):
        new_owner = await lease_owner(replicas[1], KEY)

    assert dead_owner is not None and new_owner not in (None, dead_owner)


async def test_two_replicas_granting_on_one_role_keep_every_statement(
    replicas: tuple[AwsClients, AwsClients],
) -> None:
    await create_role(replicas[0])
    granters = [
        InlinePolicyGranter(clients, PREFIX, lease=DynamoLeases(clients, TABLE).hold)
        for clients in replicas
    ]
    requests = [
        access_request(id=f"{n:012x}", requester_email=f"user{n}@example.com") for n in range(16)
    ]

    await asyncio.gather(
        *(granters[n % 2].grant(request, TARGET, START, END) for n, request in enumerate(requests))
    )

    found = await granters[0].find_grants(TARGET, LOGIN_ROLE)
    assert {grant.request_id for grant in found} == {request.id for request in requests}
