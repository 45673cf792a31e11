"""The Organizations listing, enforced: the bot, as its task role holding the root module's
organisation statements, assumes a reader role holding exactly modules/organizations-reader-role's
policy (terraform/policies/organizations-reader-role*.json.tftpl) and lists the organisation's
OUs, accounts and account tags. moto ignores the aws:ResourceOrgID condition; terraform/tests
asserts it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.organizations import OrganizationsAccounts
from cloud_access_bot.domain.accounts import OrgSnapshot
from tests.iam.iam_policies import combined, render
from tests.iam.iam_world import BOT_ACCOUNT, REGION, Credentials, Operator, as_bot, role
from tests.iam.moto_iam import DENIALS, set_enforcement

MANAGEMENT = "444444444444"
TASK_ROLE = f"arn:aws:iam::{BOT_ACCOUNT}:role/cloud-access-bot-task"
READER = f"arn:aws:iam::{MANAGEMENT}:role/cloud-access-bot-organizations-reader"


def reader_policy(*, read_tags: bool) -> dict[str, object]:
    """The module's policy (read_tags as its variable), rendered as the module renders it."""
    parts = ["organizations-reader-role"] + (
        ["organizations-reader-role-tags"] if read_tags else []
    )
    return combined(parts, account_arns="arn:aws:organizations::*:account/o-*/*")


async def seed_organization(operator: Operator, *, read_tags: bool) -> Credentials:
    """An organisation with one OU holding one tagged account, the reader role in the
    management account and the bot's task role; the task role's credentials."""
    await operator.join(MANAGEMENT)
    await operator.join(BOT_ACCOUNT)
    async with operator.client("organizations", MANAGEMENT) as org:
        organization = (await org.create_organization(FeatureSet="ALL"))["Organization"]
        root = (await org.list_roots())["Roots"][0]["Id"]
        unit = await org.create_organizational_unit(ParentId=root, Name="Workloads")
        created = await org.create_account(
            AccountName="payments",
            Email="payments@example.com",
            Tags=[{"Key": "team", "Value": "pay"}],
        )
        account = created["CreateAccountStatus"]["AccountId"]
        await org.move_account(
            AccountId=account,
            SourceParentId=root,
            DestinationParentId=unit["OrganizationalUnit"]["Id"],
        )
    trust = render("organizations-reader-role-trust", bot_task_role_arn=TASK_ROLE)
    async with operator.client("iam", MANAGEMENT) as iam:
        await role(iam, READER.rsplit("/", 1)[1], trust, reader_policy(read_tags=read_tags))
    task_policy = render(
        "task-role-organization",
        organization_role_arns="arn:aws:iam::*:role/cloud-access-bot",
        organization_id=organization["Id"],
        organizations_reader_role_arn=READER,
    )
    async with operator.client("iam", BOT_ACCOUNT) as iam:
        await role(
            iam, "cloud-access-bot-task", {"Service": "ecs-tasks.amazonaws.com"}, task_policy
        )
    return await operator.assume(BOT_ACCOUNT, TASK_ROLE)


@pytest.fixture
async def clients(
    aws: str,
    taught: None,
    operator: Operator,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> AsyncIterator[AwsClients]:
    """IAM on, the bot's clients as its task role; the module's read_tags is the test's param."""
    set_enforcement(aws, after=float("inf"))
    task_role = await seed_organization(operator, read_tags=request.param)
    set_enforcement(aws, after=0)
    DENIALS.clear()
    as_bot(monkeypatch, task_role)
    made = AwsClients(region=REGION)
    try:
        yield made
    finally:
        await made.close()
        set_enforcement(aws, after=float("inf"))


def names(snapshot: OrgSnapshot) -> dict[str, tuple[str, dict[str, str]]]:
    return {a.name: (a.ou_path, dict(a.tags)) for a in snapshot.accounts}


@pytest.mark.parametrize("clients", [True], indirect=True)
async def test_the_reader_roles_policy_lists_the_organisation_with_tags(
    clients: AwsClients,
) -> None:
    snapshot = await OrganizationsAccounts(clients, READER).snapshot()

    assert names(snapshot)["payments"] == ("/Workloads", {"team": "pay"}), DENIALS
    assert DENIALS == []


@pytest.mark.parametrize("clients", [False], indirect=True)
async def test_without_read_tags_the_tree_is_listed_and_tags_are_denied(
    clients: AwsClients,
) -> None:
    snapshot = await OrganizationsAccounts(clients, READER, tags=False).snapshot()
    assert names(snapshot)["payments"] == ("/Workloads", {})
    assert DENIALS == []

    # Asked for tags anyway: each read is denied, and an account whose tags are unknown is
    # held back rather than offered without the rules its tags would bring.
    held_back = await OrganizationsAccounts(clients, READER).snapshot()
    assert "payments" not in names(held_back)
    assert {d.action for d in DENIALS} == {"organizations:ListTagsForResource"}
