"""The Organizations adapter against moto's server: OUs, accounts, tags, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from cloud_access_bot.accounts_source import AccountsSource
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.organizations import OrganizationsAccounts, organization_directory
from cloud_access_bot.config import BotConfig
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.organizations import READER_ROLE, SeedAccount, seed_organization

TREE = [
    SeedAccount("payments-prod", "/Workloads/Prod", {"env": "prod", "team": "payments"}),
    SeedAccount("payments-dev", "/Workloads/Dev", {"env": "dev"}),
    SeedAccount("Sandbox One", "/Sandbox", {}),
]


def org_config(**extra: object) -> BotConfig:
    return BotConfig.model_validate(
        {
            "loginRoles": ["Developer"],
            "approvalGroups": ["sre"],
            "organizations": {
                "iam_role": READER_ROLE,
                "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            },
            **extra,
        }
    )


async def test_lists_every_account_with_its_ou_path_and_tags(clients: AwsClients) -> None:
    ids = await seed_organization(clients, TREE)
    snapshot = await OrganizationsAccounts(clients, READER_ROLE).snapshot()
    by_name = {a.name: a for a in snapshot.accounts}
    assert by_name["payments-prod"].account_id == ids["payments-prod"]
    assert by_name["payments-prod"].ou_path == "/Workloads/Prod"
    assert dict(by_name["payments-prod"].tags) == {"env": "prod", "team": "payments"}
    assert by_name["payments-dev"].ou_path == "/Workloads/Dev"
    assert by_name["Sandbox One"].ou_path == "/Sandbox"
    # The management account itself sits under the root.
    assert any(a.ou_path == "/" for a in snapshot.accounts)


async def test_discovered_accounts_join_the_config_with_rules_and_the_role_template(
    clients: AwsClients,
) -> None:
    ids = await seed_organization(clients, TREE)
    config = org_config(
        rules=[
            {
                "match": {"ou": "/Workloads/Prod"},
                "set": {"production": True, "approvals_required": 2},
            }
        ],
        accounts={
            "legacy": {
                "account_number": ids["payments-dev"],
                "iam_role": f"arn:aws:iam::{ids['payments-dev']}:role/legacy-bot",
            }
        },
    )
    source = AccountsSource(lambda: config, lambda file: organization_directory(clients, file))
    assert await source.refresh()
    effective = source.config()
    prod = effective.accounts["payments-prod"]
    assert prod.iam_role == f"arn:aws:iam::{ids['payments-prod']}:role/cloud-access-bot"
    assert prod.production and effective.approvals_required_for("payments-prod") == 2
    # The explicit entry overrides the discovered one: its own name and role, no duplicate.
    assert effective.accounts["legacy"].iam_role.endswith(":role/legacy-bot")
    assert "payments-dev" not in effective.accounts
    assert effective.accounts["legacy"].ou_path == "/Workloads/Dev"
    assert "Sandbox-One" in effective.accounts


async def test_a_failed_refresh_keeps_the_last_good_list(clients: AwsClients) -> None:
    await seed_organization(clients, TREE)
    config = org_config()
    unreachable = AwsClients(region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    directories = iter(
        [
            OrganizationsAccounts(clients, READER_ROLE),
            OrganizationsAccounts(unreachable, READER_ROLE),
        ]
    )
    source = AccountsSource(lambda: config, lambda org: next(directories))
    try:
        assert await source.refresh()
        before = set(source.config().accounts)
        assert not await source.refresh()
    finally:
        await unreachable.close()
    assert "payments-prod" in before
    assert set(source.config().accounts) == before


async def test_an_organisation_without_the_read_role_fails_loudly(clients: AwsClients) -> None:
    """Nothing was created: listing fails rather than returning an empty organisation."""
    with pytest.raises(Exception, match=r"AWSOrganizationsNotInUse"):
        await OrganizationsAccounts(clients, READER_ROLE).snapshot()


async def test_without_read_tags_no_account_tags_are_asked_for(
    aws: str, clients: AwsClients
) -> None:
    """Tags are one ListTagsForResource call per account, most of a large refresh."""
    await seed_organization(clients, TREE)
    config = org_config(
        organizations={
            "iam_role": READER_ROLE,
            "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            "read_tags": False,
        }
    )
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    through = AwsClients(region="eu-west-1", endpoint_url=proxy.endpoint)
    try:
        snapshot = await organization_directory(through, config).snapshot()
    finally:
        await through.close()
        await proxy.stop()
    assert {a.name for a in snapshot.accounts} >= {"payments-prod", "payments-dev", "Sandbox One"}
    assert all(not a.tags for a in snapshot.accounts)
    assert proxy.calls_to("organizations", "ListTagsForResource") == []
    assert proxy.calls_to("organizations", "ListAccountsForParent")


async def test_a_refresh_keeps_to_its_concurrency(aws: str, clients: AwsClients) -> None:
    await seed_organization(
        clients, [SeedAccount(f"acct-{n}", "/Workloads", {}) for n in range(12)]
    )
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    proxy.inject("delay", "organizations", times=None, seconds=0.2)
    through = AwsClients(region="eu-west-1", endpoint_url=proxy.endpoint)
    try:
        snapshot = await OrganizationsAccounts(through, READER_ROLE, 4).snapshot()
    finally:
        await through.close()
        await proxy.stop()
    assert len(snapshot.accounts) == 13
    assert proxy.peak_in_flight["organizations"] == 4


PROD_RULE = {"match": {"tags": {"env": "prod"}}, "set": {"production": True}}


def incremental_config() -> BotConfig:
    """Hourly refreshes, tags at most four hours old: a quarter of the accounts a refresh."""
    return org_config(
        organizations={
            "iam_role": READER_ROLE,
            "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            "refresh_minutes": 60,
            "tags_max_age_minutes": 240,
        },
        rules=[PROD_RULE],
    )


@dataclass
class Listed:
    """An AccountsSource after its first listing, through the fault proxy (which counts calls)."""

    proxy: AwsFaultProxy
    source: AccountsSource
    ids: dict[str, str]

    def tag_reads(self) -> int:
        """ListTagsForResource calls since the last time asked."""
        count = len(self.proxy.calls_to("organizations", "ListTagsForResource"))
        self.proxy.calls.clear()
        return count


@pytest.fixture
async def listed(aws: str, clients: AwsClients) -> AsyncIterator[Listed]:
    ids = await seed_organization(clients, TREE)
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    through = AwsClients(region="eu-west-1", endpoint_url=proxy.endpoint)
    config = incremental_config()
    source = AccountsSource(lambda: config, lambda file: organization_directory(through, file))
    try:
        assert await source.refresh()
        yield Listed(proxy, source, ids)
    finally:
        await through.close()
        await proxy.stop()


async def test_a_second_refresh_reads_only_a_stale_share_of_the_tags(
    clients: AwsClients, listed: Listed
) -> None:
    """The tree is walked every time; tags only for the stalest quarter (1 of 4 accounts)."""
    source, ids = listed.source, listed.ids
    assert listed.tag_reads() == 4
    async with clients.client("organizations", "us-east-1") as org:
        await org.move_account(
            AccountId=ids["Sandbox One"],
            SourceParentId=(await org.list_parents(ChildId=ids["Sandbox One"]))["Parents"][0]["Id"],
            DestinationParentId=(await org.list_roots())["Roots"][0]["Id"],
        )
    assert await source.refresh()
    assert listed.tag_reads() == 1
    effective = source.config()
    assert dict(effective.accounts["payments-prod"].tags) == {"env": "prod", "team": "payments"}
    assert effective.accounts["payments-prod"].production
    assert effective.accounts["Sandbox-One"].ou_path == "/"  # the move is seen at once


async def test_a_new_account_gets_its_tags_on_the_next_refresh(
    clients: AwsClients, listed: Listed
) -> None:
    source = listed.source
    listed.tag_reads()
    async with clients.client("organizations", "us-east-1") as org:
        await org.create_account(
            Email="newcomer@example.com",
            AccountName="newcomer",
            Tags=[{"Key": "env", "Value": "prod"}],
        )
    assert await source.refresh()
    assert listed.tag_reads() == 2  # the newcomer's and the stalest one's
    newcomer = source.config().accounts["newcomer"]
    assert dict(newcomer.tags) == {"env": "prod"}
    assert newcomer.production


async def test_a_changed_tag_is_seen_within_the_maximum_age(
    clients: AwsClients, listed: Listed
) -> None:
    """Four hours' maximum age, hourly refreshes: by the fourth refresh after the change every
    account's tags were read again, each once."""
    source, ids = listed.source, listed.ids
    listed.tag_reads()
    async with clients.client("organizations", "us-east-1") as org:
        await org.tag_resource(
            ResourceId=ids["payments-prod"], Tags=[{"Key": "env", "Value": "staging"}]
        )
    seen = []
    for _ in range(4):
        assert await source.refresh()
        seen.append(source.config().accounts["payments-prod"].tags["env"])
    assert seen[-1] == "staging"
    assert not source.config().accounts["payments-prod"].production
    assert listed.tag_reads() == 4


async def test_a_failed_tag_read_keeps_the_last_good_tags_and_holds_back_new_accounts(
    clients: AwsClients, listed: Listed
) -> None:
    """Tag rules decide production and approvers: a read that fails never turns an account's
    tags into none, and an account whose tags were never read is not offered until they are."""
    source, ids = listed.source, listed.ids
    async with clients.client("organizations", "us-east-1") as org:
        await org.untag_resource(ResourceId=ids["payments-prod"], TagKeys=["team"])
        await org.create_account(
            Email="newcomer@example.com",
            AccountName="newcomer",
            Tags=[{"Key": "env", "Value": "prod"}],
        )
    listed.proxy.inject("access_denied", "organizations", "ListTagsForResource", times=None)
    assert await source.refresh(all_tags=True)
    effective = source.config()
    assert dict(effective.accounts["payments-prod"].tags) == {"env": "prod", "team": "payments"}
    assert effective.accounts["payments-prod"].production
    assert "newcomer" not in effective.accounts
    assert "payments-dev" in effective.accounts

    listed.proxy.clear()
    assert await source.refresh()
    effective = source.config()
    assert effective.accounts["newcomer"].production


async def test_an_on_demand_refresh_reads_every_account_s_tags(listed: Listed) -> None:
    listed.tag_reads()
    assert await listed.source.refresh(all_tags=True)
    assert listed.tag_reads() == 4
