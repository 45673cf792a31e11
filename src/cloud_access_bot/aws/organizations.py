"""AWS Organizations adapter: the OU tree, its ACTIVE accounts and their tags.

The bot assumes the read-only ``organizations.iam_role`` in the management (or delegated
administrator) account; it needs ``organizations:ListRoots``, ``ListOrganizationalUnitsForParent``,
``ListAccountsForParent`` and ``ListTagsForResource`` and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from types import MappingProxyType
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.domain.accounts import OrgAccount, OrgSnapshot

#: Organizations is a global service served from us-east-1.
ORGANIZATIONS_REGION = "us-east-1"
#: Calls in flight at once: Organizations throttles at a few calls per second per operation, and
#: botocore's retries absorb short bursts, so more would mostly wait.
CONCURRENCY = 16


class OrganizationsAccounts:
    """Lists the organisation behind ``role_arn`` (implements ``ports.AccountDirectory``)."""

    def __init__(self, clients: AwsClients, role_arn: str, concurrency: int = CONCURRENCY) -> None:
        self._clients = clients
        self._role_arn = role_arn
        self._concurrency = concurrency

    async def snapshot(self) -> OrgSnapshot:
        async def work(client: Any) -> OrgSnapshot:
            return await _Walk(client, asyncio.Semaphore(self._concurrency)).run()

        return await self._clients.with_assumed(
            "organizations", self._role_arn, work, region=ORGANIZATIONS_REGION
        )


class _Walk:
    def __init__(self, client: Any, gate: asyncio.Semaphore) -> None:
        self._client = client
        self._gate = gate

    async def _pages(self, operation: str, key: str, **params: str) -> list[dict[str, Any]]:
        async with self._gate:
            items: list[dict[str, Any]] = []
            async for page in self._client.get_paginator(operation).paginate(**params):
                items.extend(page[key])
            return items

    async def run(self) -> OrgSnapshot:
        roots = await self._pages("list_roots", "Roots")
        found: list[tuple[dict[str, Any], str]] = []
        async with asyncio.TaskGroup() as tasks:
            for root in roots:
                tasks.create_task(self._unit(root["Id"], "/", found, tasks))
        accounts = [(a, path) for a, path in found if a.get("Status", "ACTIVE") == "ACTIVE"]
        async with asyncio.TaskGroup() as tasks:
            tagged = [tasks.create_task(self._tags(a["Id"])) for a, _ in accounts]
        return OrgSnapshot(
            accounts=tuple(
                OrgAccount(a["Id"], a["Name"], path, MappingProxyType(tags.result()))
                for (a, path), tags in zip(accounts, tagged, strict=True)
            ),
            taken_at=time.time(),
        )

    async def _unit(
        self,
        parent: str,
        path: str,
        found: list[tuple[dict[str, Any], str]],
        tasks: asyncio.TaskGroup,
    ) -> None:
        accounts = await self._pages("list_accounts_for_parent", "Accounts", ParentId=parent)
        found.extend((account, path) for account in accounts)
        units = await self._pages(
            "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent
        )
        for unit in units:
            child = f"{path.rstrip('/')}/{unit['Name']}"
            tasks.create_task(self._unit(unit["Id"], child, found, tasks))

    async def _tags(self, account_id: str) -> dict[str, str]:
        tags = await self._pages("list_tags_for_resource", "Tags", ResourceId=account_id)
        return {tag["Key"]: tag["Value"] for tag in tags}
