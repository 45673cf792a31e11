"""AWS Organizations adapter: the OU tree, its ACTIVE accounts and their tags.

The bot assumes the read-only ``organizations.iam_role`` in the management (or delegated
administrator) account; it needs ``organizations:ListRoots``, ``ListOrganizationalUnitsForParent``,
``ListAccountsForParent`` and ``ListTagsForResource`` and nothing else.

The tree walk is the cheapest listing that also gives each account's OU: one
``ListOrganizationalUnitsForParent`` per OU and ``ListAccountsForParent`` pages of 20 accounts,
about 300 calls for 5,000 accounts in 50 OUs (``ListAccounts`` would be 250 pages without the
OUs, and ``ListParents`` one call per account). Tags cost one ``ListTagsForResource`` per
account, so they are read incrementally: a refresh reads the tags of accounts it has none for
and the stalest share of the others (``domain.accounts.tags_to_read``), keeping the last good
tags of the rest; ``organizations.read_tags: false`` skips them when no rule matches on tags
and nobody searches the picker by tag. AWS
publishes no rate for these read calls and throttles them at a few per second, so at most
``organizations.concurrency`` are in flight and the client retries in botocore's adaptive mode,
which slows down to the rate AWS accepts (docs/organizations.md has the arithmetic).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.accounts import OrgAccount, OrgSnapshot, tags_to_read

log = logging.getLogger(__name__)

#: Organizations is a global service served from us-east-1.
ORGANIZATIONS_REGION = "us-east-1"
#: Calls in flight at once (``organizations.concurrency``'s default): Organizations throttles at
#: a few calls per second, and botocore's adaptive retries absorb short bursts.
CONCURRENCY = 16


class OrganizationsAccounts:
    """Lists the organisation behind ``role_arn`` (implements ``ports.AccountDirectory``);
    ``tags``: read each account's tags too, each within ``tags_max_age_s`` when refreshed every
    ``refresh_s``."""

    def __init__(
        self,
        clients: AwsClients,
        role_arn: str,
        concurrency: int = CONCURRENCY,
        *,
        tags: bool = True,
        tags_max_age_s: float = 360 * 60.0,
        refresh_s: float = 60 * 60.0,
    ) -> None:
        self._clients = clients
        self._role_arn = role_arn
        self._concurrency = concurrency
        self._tags = tags
        self._tags_max_age_s = tags_max_age_s
        self._refresh_s = refresh_s

    async def snapshot(
        self, previous: OrgSnapshot | None = None, *, all_tags: bool = False
    ) -> OrgSnapshot:
        async def work(client: Any) -> OrgSnapshot:
            walk = _Walk(client, asyncio.Semaphore(self._concurrency))
            accounts = await walk.accounts()
            if not self._tags:
                return _snapshot(accounts, {}, {})
            return await walk.with_tags(accounts, previous, self._choose(all_tags))

        return await self._clients.with_assumed(
            "organizations", self._role_arn, work, region=ORGANIZATIONS_REGION
        )

    def _choose(self, all_tags: bool) -> _Choice:
        def choose(ids: list[str], read_at: Mapping[str, float]) -> list[str]:
            if all_tags:
                return ids
            return tags_to_read(
                ids,
                read_at,
                now=time.time(),
                max_age_s=self._tags_max_age_s,
                refresh_s=self._refresh_s,
            )

        return choose


def organization_directory(clients: AwsClients, config: BotConfig) -> OrganizationsAccounts:
    """The listing ``config.organizations`` asks for."""
    settings = config.organizations
    assert settings is not None
    return OrganizationsAccounts(
        clients,
        settings.iam_role,
        settings.concurrency,
        tags=settings.read_tags,
        tags_max_age_s=settings.tags_max_age_minutes * 60.0,
        refresh_s=settings.refresh_minutes * 60.0,
    )


#: Which of the listed account ids (given when each one's tags were read) to read tags for now.
_Choice = Callable[[list[str], Mapping[str, float]], list[str]]
#: An ACTIVE account as ListAccountsForParent gives it, with its OU path.
_Listed = tuple[dict[str, Any], str]


def _snapshot(
    accounts: list[_Listed], tags: Mapping[str, Mapping[str, str]], read_at: Mapping[str, float]
) -> OrgSnapshot:
    return OrgSnapshot(
        accounts=tuple(
            OrgAccount(a["Id"], a["Name"], path, MappingProxyType(dict(tags.get(a["Id"], {}))))
            for a, path in accounts
        ),
        taken_at=time.time(),
        tags_read_at=MappingProxyType(
            {a["Id"]: read_at[a["Id"]] for a, _ in accounts if a["Id"] in read_at}
        ),
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

    async def accounts(self) -> list[_Listed]:
        """The ACTIVE accounts of the whole tree, each with its OU path."""
        roots = await self._pages("list_roots", "Roots")
        found: list[_Listed] = []
        async with asyncio.TaskGroup() as tasks:
            for root in roots:
                tasks.create_task(self._unit(root["Id"], "/", found, tasks))
        return [(a, path) for a, path in found if a.get("Status", "ACTIVE") == "ACTIVE"]

    async def with_tags(
        self, accounts: list[_Listed], previous: OrgSnapshot | None, choose: _Choice
    ) -> OrgSnapshot:
        """Reads the tags ``choose`` picks and keeps ``previous``'s for the others. A read that
        fails keeps the account's previous tags; an account never read successfully is left
        out of the snapshot, because rules by tag decide who approves it and whether it is
        production: it joins once its tags are read (the next refresh tries again)."""
        known = {a.account_id: a.tags for a in previous.accounts} if previous else {}
        read_at = {
            account: at
            for account, at in (previous.tags_read_at if previous else {}).items()
            if account in known
        }
        chosen = choose([a["Id"] for a, _ in accounts], read_at)
        async with asyncio.TaskGroup() as tasks:
            reads = {account: tasks.create_task(self._tags(account)) for account in chosen}
        now = time.time()
        tags: dict[str, Mapping[str, str]] = {a: known[a] for a in read_at}
        failed: list[str] = []
        for account, task in reads.items():
            held = task.result()
            if held is None:
                failed.append(account)
            else:
                tags[account], read_at[account] = held, now
        unread = [a for a in failed if a not in read_at]
        if failed:
            log.warning(
                "reading account tags failed for %d of %d accounts: %d keep their last good "
                "tags, %d new ones are left out of the bot until their tags can be read",
                len(failed),
                len(chosen),
                len(failed) - len(unread),
                len(unread),
                extra={"accounts": failed[:50]},
            )
        listed = [(a, path) for a, path in accounts if a["Id"] in read_at]
        return _snapshot(listed, tags, read_at)

    async def _unit(
        self,
        parent: str,
        path: str,
        found: list[_Listed],
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

    async def _tags(self, account_id: str) -> dict[str, str] | None:
        """The account's tags, or None when they could not be read (after the client's
        retries): the caller keeps what it knew."""
        try:
            tags = await self._pages("list_tags_for_resource", "Tags", ResourceId=account_id)
        except Exception as exc:
            log.debug("reading tags of %s failed: %s: %s", account_id, type(exc).__name__, exc)
            return None
        return {tag["Key"]: tag["Value"] for tag in tags}
