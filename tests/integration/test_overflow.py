"""Overflow of a login role's grants into bot-managed customer managed policies, against moto.

moto enforces neither the 6,144-char managed policy quota nor the 10 attached policies per
role: these tests check that the granter does, and what people are told when all is full."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.granter import (
    ROLE_INLINE_POLICY_LIMIT,
    InlinePolicyGranter,
    policy_document,
)
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess, iso
from cloud_access_bot.domain.packing import (
    ATTACHED_POLICIES_PER_ROLE,
    MANAGED_POLICY_LIMIT,
    grant_ends,
)
from cloud_access_bot.domain.policy import build_grant_policy, policy_size
from cloud_access_bot.ports import GrantError
from cloud_access_bot_sandbox.capacity import fill_role, one_policy_each
from tests.factories import access_request
from tests.integration.target_account import (
    END,
    LOGIN_ROLE,
    PREFIX,
    START,
    TARGET,
    create_role,
    inline_policies,
)

OVERFLOW = f"{PREFIX}overflow-{LOGIN_ROLE}-"
#: The issue's typical grant: 1 service, 3 actions, 2 resources.
TYPICAL = (
    ServiceAccess(
        "s3",
        ("s3:GetObject", "s3:PutObject", "s3:ListBucket"),
        ("arn:aws:s3:::logs", "arn:aws:s3:::data"),
    ),
)
TEAM = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
}


@pytest.fixture
async def clients(clients: AwsClients) -> AwsClients:
    """The shared clients, with the Developer login role."""
    await create_role(clients)
    return clients


@pytest.fixture
def granter(clients: AwsClients) -> InlinePolicyGranter:
    return InlinePolicyGranter(clients, PREFIX, clock=lambda: START, merge=True)


def request(number: int) -> AccessRequest:
    """User ``number``'s typical request."""
    return access_request(
        id=f"{number:012x}",
        requester_id=f"U{number}",
        requester_email=f"user{number:02d}@example.com",
        services=TYPICAL,
    )


def requests(count: int, first: int = 1) -> list[AccessRequest]:
    return [request(n) for n in range(first, first + count)]


async def attached(clients: AwsClients) -> dict[str, dict[str, Any] | None]:
    """The role's attached managed policies by name, with their default version's document."""
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        found = (await iam.list_attached_role_policies(RoleName=LOGIN_ROLE))["AttachedPolicies"]
        return {p["PolicyName"]: await policy_document(iam, p["PolicyArn"]) for p in found}


async def overflow_policies(clients: AwsClients) -> dict[str, dict[str, Any]]:
    return {
        name: document
        for name, document in (await attached(clients)).items()
        if name.startswith(OVERFLOW) and document is not None
    }


async def attach_team_policies(clients: AwsClients, count: int) -> None:
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        for index in range(count):
            arn = (
                await iam.create_policy(PolicyName=f"team-{index}", PolicyDocument=json.dumps(TEAM))
            )["Policy"]["Arn"]
            await iam.attach_role_policy(RoleName=LOGIN_ROLE, PolicyArn=arn)


async def bot_policy_arns(clients: AwsClients) -> list[str]:
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        listed = await iam.list_policies(Scope="Local", PathPrefix="/cloud-access-bot/")
    return [p["Arn"] for p in listed["Policies"]]


def one_inline_policy_each(count: int) -> list[dict[str, Any]]:
    """Typical grants as perkbox writes them: one policy per grant, statements as built."""
    return [
        build_grant_policy(
            TYPICAL,
            userid=f"AROAEXAMPLEROLEID1234:user{n:02d}@example.com",
            not_before=START,
            not_after=END,
            sid=f"{n:012x}",
        )
        for n in range(1, count + 1)
    ]


# Each S3 statement carries aws:ResourceAccount (S3 ARNs name no account): 53 chars that cost
# 94 → 82 and 164 → 151 grants.
@pytest.mark.parametrize(("merge", "expected"), [(False, 82), (True, 151)])
async def test_a_shared_role_holds_over_five_times_the_grants_of_one_policy_per_grant(
    clients: AwsClients, merge: bool, expected: int
) -> None:
    granter = InlinePolicyGranter(clients, PREFIX, merge=merge)
    held = await fill_role(granter, TARGET, requests(300), START, END)
    baseline = one_policy_each(one_inline_policy_each(100))

    inline = await inline_policies(clients)
    overflow = await overflow_policies(clients)
    assert baseline == 13
    assert held == expected and held >= 5 * baseline
    assert sum(policy_size(d) for d in inline.values()) <= ROLE_INLINE_POLICY_LIMIT
    assert len(overflow) == ATTACHED_POLICIES_PER_ROLE
    assert all(policy_size(d) <= MANAGED_POLICY_LIMIT for d in overflow.values())
    in_iam = grant_ends([*inline.values(), *overflow.values()])
    assert set(in_iam) == {r.id for r in requests(held)}
    found = await granter.find_grants(TARGET, LOGIN_ROLE)
    assert {g.request_id for g in found} == set(in_iam)
    assert {g.policy_name for g in found} == {*inline, *overflow}


async def test_when_everything_is_full_people_are_told_exactly_why(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await attach_team_policies(clients, ATTACHED_POLICIES_PER_ROLE - 2)
    held = await fill_role(granter, TARGET, requests(100), START, END)
    inline = await inline_policies(clients)
    left = ROLE_INLINE_POLICY_LIMIT - sum(policy_size(d) for d in inline.values())
    with pytest.raises(GrantError) as refused:
        await granter.grant(request(200), TARGET, START, END)
    assert refused.value.code == "CapacityExceeded"
    assert refused.value.message == (
        f"Role Developer in account dev (111111111111) has {left} chars left (IAM allows 10,240); "
        "this grant needs 467. All 10 managed policies the role may have attached are in use "
        f"(2 of them the bot's overflow policies, full). {held} active grants from this bot "
        f"hold room there; the earliest ends at {iso(END)}. Ask for fewer actions or "
        "resources, or ask again after that."
    )
    assert len(await overflow_policies(clients)) == 2
    assert len(await attached(clients)) == ATTACHED_POLICIES_PER_ROLE


async def test_with_every_slot_taken_by_others_grants_stay_inline(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await attach_team_policies(clients, ATTACHED_POLICIES_PER_ROLE)
    held = await fill_role(granter, TARGET, requests(100), START, END)
    assert set(grant_ends((await inline_policies(clients)).values())) == {
        r.id for r in requests(held)
    }
    with pytest.raises(GrantError) as refused:
        await granter.grant(request(200), TARGET, START, END)
    assert (
        "All 10 managed policies the role may have attached are in use (none of them the bot's)."
        in (refused.value.message)
    )
    assert await bot_policy_arns(clients) == []


async def test_revoke_empties_then_deletes_an_overflow_policy(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    held = await fill_role(granter, TARGET, requests(300), START, END)
    overflow = await overflow_policies(clients)
    last = f"{OVERFLOW}{ATTACHED_POLICIES_PER_ROLE}"
    in_last = sorted(grant_ends([overflow[last]]))
    assert len(in_last) >= 2

    removed = await granter.remove_grants(TARGET, LOGIN_ROLE, in_last[:1])
    assert [(g.request_id, g.policy_name) for g in removed] == [(in_last[0], last)]
    assert sorted(grant_ends([(await overflow_policies(clients))[last]])) == in_last[1:]

    for request_id in in_last[1:]:
        assert await granter.revoke(request(int(request_id, 16)), TARGET) is True
    assert last not in await overflow_policies(clients)
    assert len(await bot_policy_arns(clients)) == ATTACHED_POLICIES_PER_ROLE - 1
    assert await granter.revoke(request(int(in_last[0], 16)), TARGET) is False

    # The freed slot takes the next grant again.
    assert (await granter.grant(request(held + 1), TARGET, START, END)).policy_name == last


async def test_many_changes_keep_at_most_five_versions(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    inline_room = await fill_role(
        InlinePolicyGranter(clients, PREFIX, attached_policy_quota=0, merge=True),
        TARGET,
        requests(100),
        START,
        END,
    )
    first = await granter.grant(request(500), TARGET, START, END)
    assert first.policy_name == f"{OVERFLOW}1"
    for minutes in range(1, 8):
        later = END + timedelta(minutes=minutes)
        again = await granter.grant(request(500), TARGET, START, later)
        assert again.policy_name == first.policy_name
    arn = (await bot_policy_arns(clients))[0]
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        versions = (await iam.list_policy_versions(PolicyArn=arn))["Versions"]
    assert len(versions) == 5
    document = (await overflow_policies(clients))[first.policy_name]
    assert grant_ends([document]) == {f"{500:012x}": END + timedelta(minutes=7)}
    assert inline_room == len(grant_ends((await inline_policies(clients)).values()))


async def test_extending_a_grant_in_an_overflow_policy_rewrites_it_in_place(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    held = await fill_role(granter, TARGET, requests(300), START, END)
    granted = request(held)
    before = {g.request_id: g.policy_name for g in await granter.find_grants(TARGET, LOGIN_ROLE)}
    # Room frees up inline: the extension still stays where it was.
    await granter.revoke(request(1), TARGET)
    later = END + timedelta(hours=2)
    result = await granter.grant(granted, TARGET, START, later)

    assert result.policy_name == before[granted.id]
    after = await granter.find_grants(TARGET, LOGIN_ROLE)
    assert [(g.policy_name, g.ends_at) for g in after if g.request_id == granted.id] == [
        (before[granted.id], later)
    ]


async def test_concurrent_grants_fill_inline_then_overflow_without_passing_any_quota(
    clients: AwsClients, granter: InlinePolicyGranter
) -> None:
    await attach_team_policies(clients, ATTACHED_POLICIES_PER_ROLE - 3)
    wanted = requests(80)
    outcomes = await asyncio.gather(
        *(granter.grant(r, TARGET, START, END) for r in wanted), return_exceptions=True
    )
    granted = {r.id for r, o in zip(wanted, outcomes, strict=True) if not isinstance(o, Exception)}
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, GrantError) and o.code == "CapacityExceeded" for o in refused)
    assert granted and refused

    inline = await inline_policies(clients)
    overflow = await overflow_policies(clients)
    assert sum(policy_size(d) for d in inline.values()) <= ROLE_INLINE_POLICY_LIMIT
    assert len(overflow) == 3 and len(await attached(clients)) == ATTACHED_POLICIES_PER_ROLE
    assert all(policy_size(d) <= MANAGED_POLICY_LIMIT for d in overflow.values())
    assert set(grant_ends([*inline.values(), *overflow.values()])) == granted

    removed = await granter.remove_grants(TARGET, LOGIN_ROLE, granted)
    assert {g.request_id for g in removed} == granted
    assert await inline_policies(clients) == {}
    assert await overflow_policies(clients) == {}
    assert await bot_policy_arns(clients) == []
