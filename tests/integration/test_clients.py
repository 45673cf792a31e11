"""AwsClients against moto: own vs assumed credentials, caching, renewal, expired tokens."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from cloud_access_bot.aws import clients as clients_module
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.domain.model import utcnow
from cloud_access_bot_sandbox.aws import MOTO_DEFAULT_ACCOUNT

ROLE = "arn:aws:iam::111111111111:role/bot"


async def _account_of(client: Any) -> str:
    return (await client.get_caller_identity())["Account"]


async def test_own_and_assumed_credentials_reach_their_accounts(clients: AwsClients) -> None:
    async with clients.client("sts") as sts:
        assert await _account_of(sts) == MOTO_DEFAULT_ACCOUNT
    async with clients.assumed("sts", ROLE) as sts:
        identity = await sts.get_caller_identity()
    assert identity["Account"] == "111111111111"
    assert identity["Arn"].endswith("assumed-role/bot/cloud-access-bot")


async def test_role_created_through_assumed_client_is_only_in_target_account(
    clients: AwsClients,
) -> None:
    async with clients.assumed("iam", ROLE) as iam:
        await iam.create_role(RoleName="login", AssumeRolePolicyDocument="{}")
    async with clients.client("iam") as iam:
        with pytest.raises(ClientError) as err:
            await iam.get_role(RoleName="login")
    assert err.value.response["Error"]["Code"] == "NoSuchEntity"


@pytest.fixture
def assumed_roles(clients: AwsClients, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The role ARNs ``clients`` calls AssumeRole for, in order."""
    calls: list[str] = []
    original = clients._assume_role

    async def counting(role_arn: str) -> Any:
        calls.append(role_arn)
        return await original(role_arn)

    monkeypatch.setattr(clients, "_assume_role", counting)
    return calls


async def test_clients_and_credentials_are_reused(
    clients: AwsClients, assumed_roles: list[str]
) -> None:
    async with clients.assumed("sts", ROLE) as first:
        await _account_of(first)
    async with clients.assumed("sts", ROLE) as second:
        await _account_of(second)
    assert second is first
    assert assumed_roles == [ROLE]


async def test_credentials_are_renewed_shortly_before_expiry(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with clients.assumed("sts", ROLE) as before:
        await _account_of(before)
    moto_lifetime = timedelta(hours=1)
    later = utcnow() + moto_lifetime - timedelta(minutes=2)
    monkeypatch.setattr(clients_module, "utcnow", lambda: later)
    async with clients.assumed("sts", ROLE) as after:
        assert await _account_of(after) == "111111111111"
    assert after is not before


async def test_expired_token_drops_credentials_and_retries_once(clients: AwsClients) -> None:
    seen: list[Any] = []

    async def work(sts: Any) -> str:
        seen.append(sts)
        if len(seen) == 1:
            raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "X")
        return await _account_of(sts)

    assert await clients.with_assumed("sts", ROLE, work) == "111111111111"
    assert len(seen) == 2
    assert seen[1] is not seen[0], "the retry must use a client on new credentials"


async def test_other_errors_are_not_retried(clients: AwsClients) -> None:
    attempts: list[int] = []

    async def work(iam: Any) -> None:
        attempts.append(1)
        await iam.get_role(RoleName="missing")

    with pytest.raises(ClientError):
        await clients.with_assumed("iam", ROLE, work)
    assert attempts == [1]


async def test_shared_client_signs_each_task_as_its_own_role(clients: AwsClients) -> None:
    """One client for every account: concurrent tasks each reach the account of their role,
    and a call outside ``with_assumed_shared`` is refused rather than signed as the bot."""
    roles = [f"arn:aws:iam::{n}:role/bot" for n in ("111111111111", "222222222222")] * 5
    used: list[Any] = []

    async def work(sts: Any) -> str:
        used.append(sts)
        await asyncio.sleep(0)  # let the other tasks interleave
        return await _account_of(sts)

    accounts = await asyncio.gather(*(clients.with_assumed_shared("sts", r, work) for r in roles))

    assert accounts == [role.split(":")[4] for role in roles]
    assert all(client is used[0] for client in used)
    with pytest.raises(NoCredentialsError):
        await _account_of(used[0])


async def test_shared_client_retries_an_expired_token_once_with_new_credentials(
    clients: AwsClients, assumed_roles: list[str]
) -> None:
    attempts: list[int] = []

    async def expired() -> None:
        raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "X")

    async def work(sts: Any) -> str:
        """Like discovery's: its calls run in a TaskGroup, so errors come in a group."""
        attempts.append(1)
        if len(attempts) == 1:
            async with asyncio.TaskGroup() as group:
                group.create_task(expired())
        return await _account_of(sts)

    assert await clients.with_assumed_shared("sts", ROLE, work) == "111111111111"
    assert len(attempts) == 2
    assert assumed_roles == [ROLE, ROLE]
