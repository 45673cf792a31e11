"""InlinePolicyGranter against moto, with the login role in a separate target account.

moto enforces no IAM size quota: these tests check the one the granter enforces itself. Tests
of the inline budget turn overflow off (``attached_policy_quota=0``); overflow into managed
policies is tested in test_overflow.py."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError
from cloud_access_bot.aws.granter import (
    ROLE_INLINE_POLICY_LIMIT,
    InlinePolicyGranter,
    KeyedLocks,
    grant_error,
)
from cloud_access_bot.config import AccountConfig, Binding
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess, iso
from cloud_access_bot.domain.packing import compact, grant_ends
from cloud_access_bot.domain.policy import build_grant_policy, policy_size
from cloud_access_bot.ports import GrantError
from tests.factories import access_request
from tests.integration.target_account import (
    END,
    PREFIX,
    START,
    TARGET,
    create_role,
    inline_policies,
)

OTHER = AccountConfig(account_number="222222222222", iam_role="arn:aws:iam::222222222222:role/bot")


@pytest.fixture
def granter(clients: AwsClients) -> InlinePolicyGranter:
    return InlinePolicyGranter(clients, PREFIX)


@pytest.fixture
def inline_only(clients: AwsClients) -> InlinePolicyGranter:
    """A granter without overflow whose clock reads START (START's grants count as active)."""
    return InlinePolicyGranter(clients, PREFIX, clock=lambda: START, attached_policy_quota=0)


def request(**changes: Any) -> AccessRequest:
    """The shared request, reading and listing the logs bucket."""
    services = (ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), ("arn:aws:s3:::logs",)),)
    return access_request(services=services).with_changes(**changes)


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


async def test_grant_puts_a_policy_scoped_to_the_session_and_window(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    role_id = await create_role(clients, TARGET)
    await create_role(clients, OTHER)
    result = await granter.grant(request(), TARGET, START, END)

    assert result.policy_name == "cloud-access-bot-packed-1"
    stored = await inline_policies(clients, TARGET)
    assert stored == {result.policy_name: result.policy_document}
    statements = result.policy_document["Statement"]
    assert {a for s in statements for a in actions_of(s)} == {"s3:GetObject", "s3:ListBucket"}
    for statement in statements:
        assert statement["Sid"].startswith("0123456789abS")
        assert statement["Condition"] == {
            "StringEqualsIgnoreCase": {"aws:userid": f"{role_id}:alice@example.com"},
            "DateGreaterThan": {"aws:CurrentTime": iso(START)},
            "DateLessThan": {"aws:CurrentTime": iso(END)},
            # S3 ARNs name no account: only buckets of the chosen account match.
            "StringEquals": {"aws:ResourceAccount": TARGET.account_number},
        }
    assert await inline_policies(clients, OTHER) == {}


async def test_grants_share_one_packed_policy_and_revoke_removes_only_their_own(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await create_role(clients, TARGET)
    await put_team_policies(clients, 300)
    first = await granter.grant(request(), TARGET, START, END)
    second = await granter.grant(request(id="ba9876543210"), TARGET, START, END)
    assert first.policy_name == second.policy_name
    stored = await inline_policies(clients, TARGET)
    assert sorted(stored) == ["cloud-access-bot-packed-1", "team-0"]
    sids = [s["Sid"] for s in stored["cloud-access-bot-packed-1"]["Statement"]]
    assert {sid[:12] for sid in sids} == {"0123456789ab", "ba9876543210"}

    assert await granter.revoke(request(policy_name=first.policy_name), TARGET) is True
    stored = await inline_policies(clients, TARGET)
    assert stored["cloud-access-bot-packed-1"] == second.policy_document
    assert await granter.revoke(request(id="ba9876543210"), TARGET) is True
    assert sorted(await inline_policies(clients, TARGET)) == ["team-0"]


async def test_revoke_removes_the_policy_and_is_idempotent(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await create_role(clients, TARGET)
    result = await granter.grant(request(), TARGET, START, END)
    granted = request(policy_name=result.policy_name)
    assert await granter.revoke(granted, TARGET) is True
    assert await inline_policies(clients, TARGET) == {}
    assert await granter.revoke(granted, TARGET) is False


async def test_revoke_removes_a_grant_written_one_policy_per_grant(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    """Grants written before packing (``<prefix><request id>``) are still revoked."""
    role_id = await create_role(clients, TARGET)
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        await iam.put_role_policy(
            RoleName="Developer",
            PolicyName="cloud-access-bot-0123456789ab",
            PolicyDocument=json.dumps(alice_grant(role_id)),
        )
    await put_team_policies(clients, 300)
    legacy = request(policy_name="cloud-access-bot-0123456789ab")
    assert await granter.revoke(legacy, TARGET) is True
    assert sorted(await inline_policies(clients, TARGET)) == ["team-0"]
    assert await granter.revoke(legacy, TARGET) is False


async def test_regrant_replaces_its_own_statements(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await create_role(clients, TARGET)
    await granter.grant(request(), TARGET, START, END)
    later = END + timedelta(hours=1)
    result = await granter.grant(request(), TARGET, START, later)
    assert await inline_policies(clients, TARGET) == {result.policy_name: result.policy_document}
    assert iso(later) in json.dumps(result.policy_document)


def filler(size: int) -> str:
    """An inline policy of exactly ``size`` chars without whitespace, pretty-printed."""
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::"}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    statement["Resource"] += "b" * (size - policy_size(document))
    assert policy_size(document) == size
    return json.dumps(document, indent=2)


async def test_source_identity_binding_is_written_into_the_policy(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    role_id = await create_role(clients, TARGET)
    bound = TARGET.model_copy(update={"bind": Binding.SOURCE_IDENTITY})

    result = await granter.grant(request(), bound, START, END)

    [document] = (await inline_policies(clients, TARGET)).values()
    assert document == result.policy_document
    for statement in document["Statement"]:
        assert statement["Condition"]["StringEqualsIgnoreCase"] == {
            "aws:userid": f"{role_id}:alice@example.com",
            "aws:SourceIdentity": "alice@example.com",
        }


async def put_team_policies(clients: AwsClients, *sizes: int) -> None:
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        for index, size in enumerate(sizes):
            await iam.put_role_policy(
                RoleName="Developer", PolicyName=f"team-{index}", PolicyDocument=filler(size)
            )


def alice_grant(role_id: str) -> dict[str, Any]:
    """request()'s policy, as built for Alice's session on the role with this RoleId."""
    return build_grant_policy(
        request().services,
        userid=f"{role_id}:alice@example.com",
        not_before=START,
        not_after=END,
        sid=request().id,
        resource_account=request().account_id,
    )


def grant_size(role_id: str) -> int:
    """The size of the packed policy holding just this grant (what the first grant adds)."""
    return policy_size(compact(alice_grant(role_id)))


async def test_grant_refused_when_the_role_has_no_room_left(
    clients: AwsClients, inline_only: InlinePolicyGranter
) -> None:
    role_id = await create_role(clients, TARGET)
    await put_team_policies(clients, 5_000, 5_000)
    with pytest.raises(GrantError) as refused:
        await inline_only.grant(request(), TARGET, START, END)
    assert refused.value.code == "CapacityExceeded"
    assert refused.value.message == (
        "Role Developer in account dev (111111111111) has 240 chars left (IAM allows 10,240); "
        f"this grant needs {grant_size(role_id)}. No active grant from this bot holds room "
        "there: other policies use it up."
    )
    assert sorted(await inline_policies(clients, TARGET)) == ["team-0", "team-1"]


async def test_refusal_says_when_the_earliest_active_grant_ends(
    clients: AwsClients, inline_only: InlinePolicyGranter
) -> None:
    await create_role(clients, TARGET)
    soon = START + timedelta(minutes=20)
    await inline_only.grant(request(id="aaaaaaaaaaa1"), TARGET, START, soon)
    await inline_only.grant(request(id="aaaaaaaaaaa2"), TARGET, START, END)
    used = policy_size((await inline_policies(clients, TARGET))["cloud-access-bot-packed-1"])
    await put_team_policies(clients, 10_240 - used - 100)
    with pytest.raises(GrantError) as refused:
        await inline_only.grant(request(), TARGET, START, END)
    assert refused.value.code == "CapacityExceeded"
    assert "has 100 chars left" in refused.value.message
    assert (
        "2 active grants from this bot hold room there; the earliest ends at "
        "2025-03-04T10:20:00Z" in refused.value.message
    )


async def test_merged_grant_is_one_statement_granting_the_same_access(
    clients: AwsClients,
) -> None:
    await create_role(clients, TARGET)
    merging = InlinePolicyGranter(clients, PREFIX, merge=True)
    result = await merging.grant(request(), TARGET, START, END)
    [statement] = result.policy_document["Statement"]
    assert statement["Action"] == ["s3:GetObject", "s3:ListBucket"]
    assert statement["Resource"] == ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]
    assert await inline_policies(clients, TARGET) == {result.policy_name: result.policy_document}


async def test_grant_fits_up_to_the_last_char(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    role_id = await create_role(clients, TARGET)
    await put_team_policies(clients, 5_000, 10_240 - 5_000 - grant_size(role_id))
    result = await granter.grant(request(), TARGET, START, END)
    assert result.policy_name in await inline_policies(clients, TARGET)


async def test_policy_with_blocking_lint_findings_is_not_written(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await create_role(clients, TARGET)
    risky = (ServiceAccess("s3", ("s3:PutBucketPolicy",), ("arn:aws:s3:::logs",)),)
    with pytest.raises(GrantError) as refused:
        await granter.grant(request(services=risky), TARGET, START, END)
    assert refused.value.code == "PolicyLint"
    assert "Possible resource policy privilege escalation (MEDIUM)" in refused.value.message
    assert await inline_policies(clients, TARGET) == {}


async def test_missing_login_role_is_a_grant_error(granter: InlinePolicyGranter) -> None:
    with pytest.raises(GrantError) as refused:
        await granter.grant(request(), TARGET, START, END)
    assert refused.value.message == "Login role Developer not found in account 111111111111."
    assert refused.value.code == "NoSuchEntity"


async def test_identity_center_role_is_refused_before_writing(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await create_role(clients, TARGET, path="/aws-reserved/sso.amazonaws.com/")
    with pytest.raises(GrantError) as refused:
        await granter.grant(request(), TARGET, START, END)
    assert refused.value.code == "UnmodifiableEntity"
    assert "access_mode: managed_policy" in refused.value.message
    assert await inline_policies(clients, TARGET) == {}


async def test_role_the_bot_cannot_assume_is_a_grant_error(
    clients: AwsClients, granter: InlinePolicyGranter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def denied(role_arn: str) -> Any:
        raise AssumeRoleError(role_arn, "AccessDenied", "not authorized to perform sts:AssumeRole")

    monkeypatch.setattr(clients, "_assume_role", denied)
    with pytest.raises(GrantError) as refused:
        await granter.grant(request(), TARGET, START, END)
    assert refused.value.code == "AccessDenied"
    assert "cannot assume arn:aws:iam::111111111111:role/bot" in refused.value.message


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDenied", "The bot's role arn:aws:iam::111111111111:role/bot is not allowed"),
        ("LimitExceeded", "reached an IAM quota (boom)"),
        ("MalformedPolicyDocument", "IAM rejected the policy for role Developer"),
        ("UnmodifiableEntity", "access_mode: managed_policy"),
    ],
)
def test_iam_refusals_read_well(code: str, expected: str) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "boom"}}, "PutRolePolicy")
    mapped = grant_error(error, "Developer", TARGET)
    assert mapped.code == code
    assert expected in mapped.message
    assert "account 111111111111" in mapped.message


async def test_granters_sharing_the_runtimes_locks_keep_every_statement_on_one_role(
    clients: AwsClients,
) -> None:
    await create_role(clients, TARGET)
    locks = KeyedLocks()
    granters = [InlinePolicyGranter(clients, PREFIX, locks=locks) for _ in range(2)]
    requests = [request(id=f"{n:012x}", requester_email=f"user{n}@example.com") for n in range(12)]

    await asyncio.gather(
        *(granters[n % 2].grant(r, TARGET, START, END) for n, r in enumerate(requests))
    )

    stored = await inline_policies(clients, TARGET)
    assert set(grant_ends(stored.values())) == {r.id for r in requests}


async def test_sixty_concurrent_grants_on_one_role_fit_or_are_refused_before_aws(
    clients: AwsClients, inline_only: InlinePolicyGranter
) -> None:
    """Every grant either lands or is refused with CapacityExceeded; IAM's quota (which moto
    does not enforce) is never exceeded, and revoking frees room for a refused grant."""
    await create_role(clients, TARGET)
    await put_team_policies(clients, 600)
    typical = (
        ServiceAccess(
            "s3",
            ("s3:GetObject", "s3:PutObject", "s3:ListBucket"),
            ("arn:aws:s3:::logs", "arn:aws:s3:::data"),
        ),
    )
    requests = [
        request(id=f"{n:012x}", requester_email=f"user{n}@example.com", services=typical)
        for n in range(1, 61)
    ]
    outcomes = await asyncio.gather(
        *(inline_only.grant(r, TARGET, START, END) for r in requests), return_exceptions=True
    )
    granted = [r for r, o in zip(requests, outcomes, strict=True) if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, GrantError) and o.code == "CapacityExceeded" for o in refused)
    assert granted and refused
    stored = await inline_policies(clients, TARGET)
    assert sum(policy_size(d) for d in stored.values()) <= ROLE_INLINE_POLICY_LIMIT
    assert set(grant_ends(stored.values())) == {r.id for r in granted}

    later = request(id="0000000000ff", services=typical)
    with pytest.raises(GrantError):
        await inline_only.grant(later, TARGET, START, END)
    assert await inline_only.revoke(granted[0], TARGET) is True
    assert (await inline_only.grant(later, TARGET, START, END)).policy_name in stored


async def test_the_ticket_is_in_every_statement_sid_and_revoke_still_finds_the_grant(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    """Inline policies have no description: an IAM console user reading the role's policy
    sees the request id and the ticket in each statement's Sid."""
    await create_role(clients, TARGET)
    ticketed = request(ticket="CHG-1234")
    result = await granter.grant(ticketed, TARGET, START, END)

    stored = (await inline_policies(clients, TARGET))[result.policy_name]
    assert [s["Sid"] for s in stored["Statement"]] == [
        "0123456789abS0TCHG1234",
        "0123456789abS1TCHG1234",
    ]
    assert await granter.revoke(ticketed.with_changes(policy_name=result.policy_name), TARGET)
    assert await inline_policies(clients, TARGET) == {}
