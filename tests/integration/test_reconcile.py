"""reconcile() against moto and a DynamoDB store: orphaned and ended bot grants go, live grants
and everything the bot did not write stay."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError
from cloud_access_bot.aws.granter import InlinePolicyGranter, KeyedLocks, policy_document
from cloud_access_bot.aws.leases import DynamoLeases
from cloud_access_bot.aws.managed_granter import ManagedPolicyGranter, policy_arn
from cloud_access_bot.aws.reconcile import (
    CONCURRENCY,
    RECENT_REQUESTS,
    ReconciledGrant,
    frequent_scope,
    recently_requested,
    reconcile,
)
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest, EventType, Status
from cloud_access_bot.domain.packing import grant_ends
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from tests.factories import access_request
from tests.integration.target_account import SSO_PATH, create_role, inline_policies

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
CONFIG = BotConfig.model_validate(
    {
        "loginRoles": ["Developer"],
        "approvalGroups": ["sre"],
        "accounts": {
            "dev": {
                "account_number": "111111111111",
                "iam_role": "arn:aws:iam::111111111111:role/bot",
            },
            "sso": {
                "account_number": "333333333333",
                "iam_role": "arn:aws:iam::333333333333:role/bot",
                "access_mode": "managed_policy",
                "login_roles": ["Developer"],
            },
        },
    }
)
DEV = CONFIG.accounts["dev"]
SSO = CONFIG.accounts["sso"]
FOREIGN = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "TeamRead", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}
    ],
}


@pytest.fixture
async def clients(clients: AwsClients) -> AwsClients:
    """The shared clients, with dev's login role holding two policies the bot did not write
    and sso's IAM Identity Center role."""
    await create_role(clients, DEV)
    async with clients.assumed("iam", DEV.iam_role) as iam:
        for name in ("team-read", "cloud-access-bot-notes"):
            await iam.put_role_policy(
                RoleName="Developer", PolicyName=name, PolicyDocument=json.dumps(FOREIGN)
            )
    await create_role(clients, SSO, "AWSReservedSSO_Developer_00112233aabbccdd", SSO_PATH)
    return clients


@pytest.fixture
async def store(clients: AwsClients) -> DynamoStore:
    made = DynamoStore(clients, "cab-reconcile")
    await made.ensure_table()
    return made


def request(request_id: str, account: str = "dev") -> AccessRequest:
    return access_request(
        id=request_id,
        requester_email=f"{request_id}@example.com",
        account_name=account,
        account_id=CONFIG.accounts[account].account_number,
        created_at=NOW - timedelta(hours=3),
    )


async def record(store: DynamoStore, request: AccessRequest, *statuses: Status) -> None:
    """Store ``request`` and move it through ``statuses`` (PENDING → ...)."""
    current = await store.create(request, "U1", {})
    events = {
        Status.APPROVED: EventType.APPROVED,
        Status.ACTIVE: EventType.GRANTED,
        Status.EXPIRED: EventType.EXPIRED,
    }
    for status in statuses:
        current = await store.commit(
            current, current.with_changes(status=status), events[status], "U2", {}
        )


async def managed_document(clients: AwsClients) -> dict[str, Any] | None:
    async with clients.assumed("iam", SSO.iam_role) as iam:
        return await policy_document(iam, policy_arn(SSO))


async def seed(clients: AwsClients, store: DynamoStore) -> None:
    """dev: a live grant, an orphan without record, an EXPIRED record whose statements stayed,
    a live record whose window ended long ago. sso: a live grant and an orphan."""
    inline = InlinePolicyGranter(clients, CONFIG.policy_name_prefix)
    window = (NOW - timedelta(minutes=30), NOW + timedelta(minutes=30))
    ended = (NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    for request_id, statuses, (start, end) in [
        ("aaaaaaaaaaa1", (Status.APPROVED, Status.ACTIVE), window),
        ("aaaaaaaaaaa2", None, window),
        ("aaaaaaaaaaa3", (Status.APPROVED, Status.ACTIVE, Status.EXPIRED), ended),
        ("aaaaaaaaaaa4", (Status.APPROVED, Status.ACTIVE), ended),
    ]:
        if statuses:
            await record(store, request(request_id), *statuses)
        await inline.grant(request(request_id), DEV, start, end)
    managed = ManagedPolicyGranter(clients)
    await record(store, request("bbbbbbbbbbb1", "sso"), Status.APPROVED, Status.ACTIVE)
    await managed.grant(request("bbbbbbbbbbb1", "sso"), SSO, *window)
    await managed.grant(request("bbbbbbbbbbb2", "sso"), SSO, *window)


async def test_orphans_and_ended_grants_go_and_foreign_policies_stay(
    clients: AwsClients, store: DynamoStore
) -> None:
    await seed(clients, store)
    before = await inline_policies(clients, DEV)

    report = await reconcile(clients, CONFIG, store, now=NOW)

    assert report.errors == []
    assert sorted(report.removed, key=lambda r: r.request_id) == [
        ReconciledGrant(
            "aaaaaaaaaaa2",
            "dev",
            "111111111111",
            "Developer",
            "cloud-access-bot-packed-1",
            "no request record",
        ),
        ReconciledGrant(
            "aaaaaaaaaaa3",
            "dev",
            "111111111111",
            "Developer",
            "cloud-access-bot-packed-1",
            "request is EXPIRED",
        ),
        ReconciledGrant(
            "aaaaaaaaaaa4",
            "dev",
            "111111111111",
            "Developer",
            "cloud-access-bot-packed-1",
            "window ended at 2025-03-04T11:00:00Z",
        ),
        ReconciledGrant(
            "bbbbbbbbbbb2",
            "sso",
            "333333333333",
            "",
            "cloud-access-bot-grants",
            "no request record",
        ),
    ]
    after = await inline_policies(clients, DEV)
    assert after["team-read"] == before["team-read"] == FOREIGN
    assert after["cloud-access-bot-notes"] == FOREIGN
    assert set(grant_ends([after["cloud-access-bot-packed-1"]])) == {"aaaaaaaaaaa1"}
    assert set(grant_ends([await managed_document(clients)])) == {"bbbbbbbbbbb1"}

    again = await reconcile(clients, CONFIG, store, now=NOW)
    assert again.removed == [] and again.errors == []


async def test_two_reconciles_at_once_remove_each_orphan_once(
    clients: AwsClients, store: DynamoStore
) -> None:
    await seed(clients, store)
    locks = KeyedLocks()  # one process's, as its runtime makes them
    first, second = await asyncio.gather(
        reconcile(clients, CONFIG, store, now=NOW, locks=locks),
        reconcile(clients, CONFIG, store, now=NOW, locks=locks),
    )
    assert first.errors == second.errors == []
    removed = sorted(r.request_id for r in first.removed + second.removed)
    assert removed == ["aaaaaaaaaaa2", "aaaaaaaaaaa3", "aaaaaaaaaaa4", "bbbbbbbbbbb2"]
    assert set(grant_ends((await inline_policies(clients, DEV)).values())) == {"aaaaaaaaaaa1"}


async def test_an_account_the_bot_cannot_reach_is_reported_and_the_rest_reconciled(
    clients: AwsClients, store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(clients, store)
    gone = DEV.model_copy(
        update={"account_number": "444444444444", "iam_role": "arn:aws:iam::444444444444:role/bot"}
    )
    config = CONFIG.model_copy(update={"accounts": {**CONFIG.accounts, "gone": gone}})
    assume = clients._assume_role

    async def denied_in_gone(role_arn: str) -> Any:
        if role_arn == gone.iam_role:
            raise AssumeRoleError(role_arn, "AccessDenied", "not authorized to perform AssumeRole")
        return await assume(role_arn)

    monkeypatch.setattr(clients, "_assume_role", denied_in_gone)
    report = await reconcile(clients, config, store, now=NOW)
    assert report.errors == [
        "gone role Developer: The bot cannot assume arn:aws:iam::444444444444:role/bot in "
        "account 444444444444 (AccessDenied): check that role's trust policy allows the bot."
    ]
    assert len(report.removed) == 4


def many_accounts(count: int) -> BotConfig:
    return BotConfig.model_validate(
        {
            "loginRoles": ["Developer"],
            "approvalGroups": ["sre"],
            "accounts": {
                f"acct{n:02d}": {
                    "account_number": f"5555555555{n:02d}",
                    "iam_role": f"arn:aws:iam::5555555555{n:02d}:role/bot",
                }
                for n in range(count)
            },
        }
    )


async def test_accounts_are_checked_a_few_at_a_time(
    aws: str, clients: AwsClients, store: DynamoStore
) -> None:
    """Never one role assumption per account all at once (5,000 with AWS Organizations)."""
    config = many_accounts(CONCURRENCY + 4)
    for account in config.accounts.values():
        await create_role(clients, account)
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    proxy.inject("delay", "sts", "AssumeRole", times=None, seconds=0.3)
    through = AwsClients(region="eu-west-1", endpoint_url=proxy.endpoint)
    try:
        report = await reconcile(through, config, store, now=NOW)
    finally:
        await through.close()
        await proxy.stop()
    assert report.errors == []
    assert len(proxy.calls_to("sts", "AssumeRole")) == len(config.accounts)
    assert proxy.peak_in_flight["sts"] == CONCURRENCY


async def test_only_the_named_accounts_are_checked(clients: AwsClients, store: DynamoStore) -> None:
    await seed(clients, store)
    report = await reconcile(clients, CONFIG, store, now=NOW, accounts={"sso"})
    assert [r.request_id for r in report.removed] == ["bbbbbbbbbbb2"]
    left = grant_ends((await inline_policies(clients, DEV)).values())
    assert {"aaaaaaaaaaa2", "aaaaaaaaaaa3", "aaaaaaaaaaa4"} <= set(left)


async def test_a_frequent_pass_with_organizations_checks_file_and_requested_accounts(
    clients: AwsClients, store: DynamoStore
) -> None:
    await record(store, request("aaaaaaaaaaa1"), Status.APPROVED, Status.ACTIVE)
    requested = await recently_requested(store, NOW, RECENT_REQUESTS)
    assert requested == {DEV.account_number}
    assert await recently_requested(store, NOW, timedelta(hours=1)) == set()

    discovered = {
        f"org-{n}": {
            "account_number": f"77777777777{n}",
            "iam_role": f"arn:aws:iam::77777777777{n}:role/cloud-access-bot",
        }
        for n in range(3)
    }
    discovered["dev-in-org"] = DEV.model_dump()
    org = {
        "iam_role": "arn:aws:iam::123456789012:role/org-reader",
        "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
    }
    file_config = CONFIG.model_copy(update={"accounts": {"sso": SSO}, "organizations": org})
    effective = BotConfig.model_validate(
        {**file_config.model_dump(), "accounts": {"sso": SSO.model_dump(), **discovered}}
    )
    assert frequent_scope(effective, file_config, requested) == {"sso", "dev-in-org"}
    assert frequent_scope(CONFIG, CONFIG, set()) is None  # no Organizations: every account


async def test_a_removal_takes_turns_with_another_replicas_lease(
    clients: AwsClients, store: DynamoStore
) -> None:
    """Reconcile rewrites the documents the granters rewrite, so it holds the same
    cross-replica lease: while another replica holds dev's role, dev's orphans stay."""
    await seed(clients, store)
    other = DynamoLeases(clients, "cab-reconcile")
    mine = DynamoLeases(clients, "cab-reconcile", wait_seconds=0.5)
    async with other.hold(f"{DEV.account_number}:role:Developer"):
        report = await reconcile(clients, CONFIG, store, now=NOW, lease=mine.hold)
    assert len(report.errors) == 1
    assert "Another copy of the bot is still changing" in report.errors[0]
    assert [r.request_id for r in report.removed] == ["bbbbbbbbbbb2"]
    left = grant_ends((await inline_policies(clients, DEV)).values())
    assert {"aaaaaaaaaaa2", "aaaaaaaaaaa3", "aaaaaaaaaaa4"} <= set(left)
