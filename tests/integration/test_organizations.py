"""The Organizations adapter against moto's server: OUs, accounts, tags, failures."""

from __future__ import annotations

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
