"""ManagedPolicyGranter against moto: grants as statements of a customer managed policy that an
IAM Identity Center permission set references (moto checks neither its size nor the SSO
roles' protection: the granter does)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.managed_granter import ManagedPolicyGranter, policy_arn
from cloud_access_bot.config import AccessMode, AccountConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.domain.packing import IDLE_STATEMENT, grant_ends
from cloud_access_bot.domain.policy import policy_size
from cloud_access_bot.ports import GrantError
from tests.factories import access_request
from tests.integration.target_account import END, SSO_PATH, START, create_role

ACCOUNT = AccountConfig(
    account_number="333333333333",
    iam_role="arn:aws:iam::333333333333:role/bot",
    access_mode=AccessMode.MANAGED_POLICY,
    managed_policy_name="access-bot-grants",
    managed_policy_path="/cloud-access-bot/",
)
SSO_ROLE = "AWSReservedSSO_Developer_0123456789abcdef"


@pytest.fixture
async def sso_role_id(clients: AwsClients) -> str:
    return await create_role(clients, ACCOUNT, SSO_ROLE, f"{SSO_PATH}eu-west-1/")


@pytest.fixture
def granter(clients: AwsClients) -> ManagedPolicyGranter:
    return ManagedPolicyGranter(clients, clock=lambda: START)


def request(number: int = 0, **changes: Any) -> AccessRequest:
    return access_request(
        id=f"{number:012x}",
        requester_id=f"U{number}",
        requester_email=f"user{number}@example.com",
        account_name="sso-dev",
        account_id=ACCOUNT.account_number,
        **changes,
    )


async def stored(clients: AwsClients) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The policy's default document and its versions, as IAM holds them."""
    arn = policy_arn(ACCOUNT)
    async with clients.assumed("iam", ACCOUNT.iam_role) as iam:
        policy = (await iam.get_policy(PolicyArn=arn))["Policy"]
        version = await iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
        versions = (await iam.list_policy_versions(PolicyArn=arn))["Versions"]
    return version["PolicyVersion"]["Document"], versions


def userids(document: dict[str, Any]) -> set[str]:
    return {s["Condition"]["StringEqualsIgnoreCase"]["aws:userid"] for s in document["Statement"]}


async def test_first_grant_creates_the_policy_scoped_to_the_sso_session(
    clients: AwsClients, granter: ManagedPolicyGranter, sso_role_id: str
) -> None:
    result = await granter.grant(request(1), ACCOUNT, START, END)
    assert result.policy_name == "access-bot-grants"
    document, versions = await stored(clients)
    assert document == result.policy_document
    assert len(versions) == 1
    assert userids(document) == {f"{sso_role_id}:user1@example.com"}
    async with clients.assumed("iam", ACCOUNT.iam_role) as iam:
        policy = (await iam.get_policy(PolicyArn=policy_arn(ACCOUNT)))["Policy"]
        assert policy["Path"] == "/cloud-access-bot/"
        assert (await iam.list_role_policies(RoleName=SSO_ROLE))["PolicyNames"] == []


async def test_concurrent_grants_for_several_users_all_land(
    clients: AwsClients, granter: ManagedPolicyGranter, sso_role_id: str
) -> None:
    users = range(1, 9)
    await asyncio.gather(*(granter.grant(request(n), ACCOUNT, START, END) for n in users))
    document, versions = await stored(clients)
    assert set(grant_ends([document])) == {f"{n:012x}" for n in users}
    assert {
        s["Condition"]["StringEqualsIgnoreCase"]["aws:userid"] for s in document["Statement"]
    } == {f"{sso_role_id}:user{n}@example.com" for n in users}
    assert len(versions) <= 5
    assert policy_size(document) <= 6_144


async def test_revoke_writes_a_version_without_the_grant(
    clients: AwsClients, granter: ManagedPolicyGranter, sso_role_id: str
) -> None:
    await granter.grant(request(1), ACCOUNT, START, END)
    second = await granter.grant(request(2), ACCOUNT, START, END)
    assert await granter.revoke(request(1), ACCOUNT) is True
    document, _ = await stored(clients)
    assert document["Statement"] == second.policy_document["Statement"]

    assert await granter.revoke(request(2), ACCOUNT) is True
    document, _ = await stored(clients)
    assert document["Statement"] == [IDLE_STATEMENT]
    assert await granter.revoke(request(2), ACCOUNT) is False


async def test_full_policy_refuses_with_room_and_earliest_end(
    clients: AwsClients, granter: ManagedPolicyGranter, sso_role_id: str
) -> None:
    granted = 0
    refused: GrantError | None = None
    for number in range(1, 40):
        end = START + timedelta(minutes=30 + number)
        try:
            await granter.grant(request(number), ACCOUNT, START, end)
        except GrantError as error:
            refused = error
            break
        granted += 1
    assert refused is not None
    assert refused.code == "CapacityExceeded"
    assert refused.message.startswith(
        "Policy access-bot-grants in account sso-dev (333333333333) has "
    )
    assert f"{granted} active grants from this bot hold room there" in refused.message
    assert "the earliest ends at 2025-03-04T10:31:00Z" in refused.message
    document, _ = await stored(clients)
    assert len(grant_ends([document])) == granted
    assert policy_size(document) <= 6_144


async def test_login_role_may_be_the_role_name_itself(
    clients: AwsClients, granter: ManagedPolicyGranter, sso_role_id: str
) -> None:
    await granter.grant(request(1, login_role=SSO_ROLE), ACCOUNT, START, END)
    document, _ = await stored(clients)
    assert document["Statement"][0]["Condition"]["StringEqualsIgnoreCase"]["aws:userid"] == (
        f"{sso_role_id}:user1@example.com"
    )


async def test_unknown_permission_set_is_a_clear_error(
    granter: ManagedPolicyGranter, sso_role_id: str
) -> None:
    with pytest.raises(GrantError) as refused:
        await granter.grant(request(1, login_role="Admin"), ACCOUNT, START, END)
    assert refused.value.code == "NoSuchEntity"
    assert refused.value.message.startswith(
        "No IAM Identity Center role for permission set Admin in account 333333333333"
    )


async def test_the_ticket_is_in_the_sids_of_the_shared_managed_policy(
    clients: AwsClients, granter: ManagedPolicyGranter, sso_role_id: str
) -> None:
    """The managed policy holds every grant of the account and IAM never changes a policy's
    Description once made: each grant's request id and ticket are in its statements' Sids."""
    await granter.grant(request(1, ticket="INC-42"), ACCOUNT, START, END)
    await granter.grant(request(2), ACCOUNT, START, END)

    document, _ = await stored(clients)
    assert sorted(s["Sid"] for s in document["Statement"]) == [
        "000000000001S0TINC42",
        "000000000002S0",
    ]
    assert set(grant_ends([document])) == {"000000000001", "000000000002"}
    assert await granter.revoke(request(1, ticket="INC-42"), ACCOUNT) is True
    document, _ = await stored(clients)
    assert [s["Sid"] for s in document["Statement"]] == ["000000000002S0"]
