"""An AWS Organizations tree in moto: OUs, ACTIVE accounts and their tags (tests, bench)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot_sandbox.aws import MOTO_DEFAULT_ACCOUNT

#: The read role check-config and the bot assume in the management account (moto's default).
READER_ROLE = f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/org-reader"


@dataclass(frozen=True)
class SeedAccount:
    name: str
    ou_path: str
    tags: Mapping[str, str]


async def seed_organization(
    clients: AwsClients, accounts: Sequence[SeedAccount], concurrency: int = 16
) -> dict[str, str]:
    """Create the organisation, the OUs the accounts name (``/Workloads/Prod``) and the
    accounts; returns each account's name → id."""
    async with clients.client("organizations", "us-east-1") as org:
        await org.create_organization(FeatureSet="ALL")
        root = (await org.list_roots())["Roots"][0]["Id"]
        units = {"/": root}
        for path in sorted({a.ou_path for a in accounts}, key=lambda p: p.count("/")):
            parts = [p for p in path.split("/") if p]
            for depth in range(1, len(parts) + 1):
                here = "/" + "/".join(parts[:depth])
                if here not in units:
                    parent = units["/" + "/".join(parts[: depth - 1])]
                    unit = await org.create_organizational_unit(
                        ParentId=parent, Name=parts[depth - 1]
                    )
                    units[here] = unit["OrganizationalUnit"]["Id"]
        gate = asyncio.Semaphore(concurrency)

        async def create(account: SeedAccount) -> tuple[str, str]:
            async with gate:
                made = await org.create_account(
                    Email=f"{account.name}@example.com",
                    AccountName=account.name,
                    Tags=[{"Key": k, "Value": v} for k, v in account.tags.items()],
                )
                account_id = made["CreateAccountStatus"]["AccountId"]
                if account.ou_path != "/":
                    await org.move_account(
                        AccountId=account_id,
                        SourceParentId=root,
                        DestinationParentId=units[account.ou_path],
                    )
                return account.name, account_id

        return dict(await asyncio.gather(*(create(a) for a in accounts)))
