"""AWS Organizations adapter: the OU tree, its ACTIVE accounts and their tags.

The bot assumes the read-only ``organizations.iam_role`` in the management (or delegated
administrator) account; it needs ``organizations:ListRoots``, ``ListOrganizationalUnitsForParent``,
``ListAccountsForParent`` and ``ListTagsForResource`` and nothing else.

The tree walk is the cheapest listing that also gives each account's OU: one
``ListOrganizationalUnitsForParent`` per OU and ``ListAccountsForParent`` pages of 20 accounts,
about 300 calls for 5,000 accounts in 50 OUs (``ListAccounts`` would be 250 pages without the
OUs, and ``ListParents`` one call per account). Tags cost one ``ListTagsForResource`` per
account, 5,000 more calls: ``organizations.read_tags: false`` skips them when no rule matches
on tags and nobody searches the picker by tag. AWS
publishes no rate for these read calls and throttles them at a few per second, so at most
``organizations.concurrency`` are in flight and the client retries in botocore's adaptive mode,
which slows down to the rate AWS accepts (docs/organizations.md has the arithmetic).
"""

from __future__ import annotations

import asyncio
import time
from types import MappingProxyType
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.accounts import OrgAccount, OrgSnapshot

#: Organizations is a global service served from us-east-1.
ORGANIZATIONS_REGION = "us-east-1"
#: Calls in flight at once (``organizations.concurrency``'s default): Organizations throttles at
#: a few calls per second, and botocore's adaptive retries absorb short bursts.
CONCURRENCY = 16


class OrganizationsAccounts:
    """Lists the organisation behind ``role_arn`` (implements ``ports.AccountDirectory``);
    ``tags``: read each account's tags too."""

    def __init__(
        self,
        clients: AwsClients,
        role_arn: str,
        concurrency: int = CONCURRENCY,
        *,
        tags: bool = True,
    ) -> None:
        self._clients = clients
        self._role_arn = role_arn
        self._concurrency = concurrency
        self._tags = tags

    async def snapshot(self) -> OrgSnapshot:
        async def work(client: Any) -> OrgSnapshot:
            return await _Walk(client, asyncio.Semaphore(self._concurrency), self._tags).run()

        return await self._clients.with_assumed(
            "organizations", self._role_arn, work, region=ORGANIZATIONS_REGION
        )


def organization_directory(clients: AwsClients, config: BotConfig) -> OrganizationsAccounts:
    """The listing ``config.organizations`` asks for."""
    settings = config.organizations
    assert settings is not None
    return OrganizationsAccounts(
        clients, settings.iam_role, settings.concurrency, tags=settings.read_tags
    )


class _Walk:
    def __init__(self, client: Any, gate: asyncio.Semaphore, tags: bool) -> None:
        self._client = client
        self._gate = gate
        self._read_tags = tags

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
        tags: list[dict[str, str]] = [{} for _ in accounts]
        if self._read_tags:
            async with asyncio.TaskGroup() as tasks:
                tagged = [tasks.create_task(self._tags(a["Id"])) for a, _ in accounts]
            tags = [task.result() for task in tagged]
        return OrgSnapshot(
            accounts=tuple(
                OrgAccount(a["Id"], a["Name"], path, MappingProxyType(held))
                for (a, path), held in zip(accounts, tags, strict=True)
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
