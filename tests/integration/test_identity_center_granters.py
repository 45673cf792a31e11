"""The Identity Center access modes (permission sets, groups) against moto's sso-admin and
identitystore.

moto answers every assignment status with SUCCEEDED at once, so polling is exercised for its
happy path only; the FAILED and still-IN_PROGRESS branches are not reachable through moto.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.identity_center import (
    Assignment,
    AssignmentLedger,
    IdentityCenter,
    Membership,
)
from cloud_access_bot.aws.identity_center_granters import (
    GroupMembershipGranter,
    PermissionSetGranter,
    RequestPermissionSetGranter,
)
from cloud_access_bot.aws.reconcile import reconcile
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import GROUPS_ACCOUNT, AccessMode, AccountConfig, BotConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.ports import GrantError
from cloud_access_bot_sandbox.identity_center import (
    IDC_ROLE,
    SeededIdentityCenter,
    assignments,
    members,
    seed_identity_center,
)
from tests.factories import access_request
from tests.integration.target_account import END, START

TABLE = "idc"
PROD = AccountConfig(
    account_number="222222222222",
    iam_role="arn:aws:iam::222222222222:role/cloud-access-bot",
    access_mode=AccessMode.PERMISSION_SET,
    permission_sets=["ReadOnlyAccess", "AdministratorAccess"],
)
GROUPS = AccountConfig(
    account_number="333333333333", iam_role=IDC_ROLE, access_mode=AccessMode.GROUP_MEMBERSHIP
)

World = tuple[AwsClients, SeededIdentityCenter]


@pytest.fixture
async def world(aws: str) -> AsyncIterator[World]:
    clients = AwsClients(region="eu-west-1")
    await DynamoStore(clients, TABLE).ensure_table()
    seeded = await seed_identity_center(
        clients, users={"alice": "alice@example.com", "bob@example.com": "robert@corp.example"}
    )
    yield clients, seeded
    await clients.close()


def permission_sets(world: World) -> PermissionSetGranter:
    clients, idc = world
    ledger = AssignmentLedger(clients, TABLE)
    return PermissionSetGranter(
        IdentityCenter(clients, poll_interval=0.05), ledger, lambda: idc.config
    )


def groups(world: World) -> GroupMembershipGranter:
    clients, idc = world
    ledger = AssignmentLedger(clients, TABLE)
    return GroupMembershipGranter(IdentityCenter(clients), ledger, lambda: idc.config)


def readonly_request(**changes: object) -> AccessRequest:
    return access_request(
        account_name="prod",
        account_id=PROD.account_number,
        login_role="ReadOnlyAccess",
        services=(),
        permission_set="ReadOnlyAccess",
    ).with_changes(**changes)


def join_request(**changes: object) -> AccessRequest:
    return access_request(
        id="0123456789ef",
        account_name=GROUPS_ACCOUNT,
        account_id=GROUPS.account_number,
        login_role="prod-support",
        services=(),
        group="prod-support",
    ).with_changes(**changes)


async def held(world: World, name: str = "ReadOnlyAccess") -> list[str]:
    clients, idc = world
    found = await assignments(clients, idc.config, PROD.account_number, idc.permission_sets[name])
    return [a["PrincipalId"] for a in found if a["PrincipalType"] == "USER"]


async def test_approval_assigns_the_permission_set_to_the_user_and_expiry_removes_it(
    world: World,
) -> None:
    bot = permission_sets(world)

    result = await bot.grant(readonly_request(), PROD, START, END)

    assert await held(world) == [world[1].users["alice"]]
    assert result.policy_document["AssignmentCreationRequestId"]
    assert result.policy_document["AlreadyAssigned"] is False
    assert await bot.revoke(readonly_request(), PROD) is True
    assert await held(world) == []
    assert await bot.revoke(readonly_request(), PROD) is False


async def test_an_assignment_the_user_already_had_is_never_removed(world: World) -> None:
    clients, idc = world
    theirs = Assignment(
        PROD.account_number, idc.permission_sets["ReadOnlyAccess"], idc.users["alice"]
    )
    await IdentityCenter(clients).create_assignment(idc.config, theirs)
    bot = permission_sets(world)

    result = await bot.grant(readonly_request(), PROD, START, END)
    removed = await bot.revoke(readonly_request(), PROD)

    assert result.policy_document["AlreadyAssigned"] is True
    assert removed is False
    assert await held(world) == [idc.users["alice"]]


async def test_two_requests_for_the_same_assignment_share_it_until_the_last_ends(
    world: World,
) -> None:
    bot = permission_sets(world)
    first, second = readonly_request(), readonly_request(id="0123456789cd")
    await bot.grant(first, PROD, START, END)
    shared = await bot.grant(second, PROD, START, END)

    assert shared.policy_document["AlreadyAssigned"] is False
    assert await bot.revoke(first, PROD) is False
    assert len(await held(world)) == 1
    assert await bot.revoke(second, PROD) is True
    assert await held(world) == []


async def test_an_assignment_made_by_a_process_that_died_is_finished_and_later_removed(
    world: World,
) -> None:
    """The first process recorded its intent and asked AWS, then died before recording the
    creation: the next attempt must not take the assignment for the user's own."""
    clients, idc = world
    assignment = Assignment(
        PROD.account_number, idc.permission_sets["ReadOnlyAccess"], idc.users["alice"]
    )
    await AssignmentLedger(clients, TABLE).claim(readonly_request().id, assignment.key, False)
    await IdentityCenter(clients).create_assignment(idc.config, assignment)

    result = await permission_sets(world).grant(readonly_request(), PROD, START, END)

    assert result.policy_document["AlreadyAssigned"] is False
    assert len(await held(world)) == 1
    assert await permission_sets(world).revoke(readonly_request(), PROD) is True
    assert await held(world) == []


async def test_a_requester_without_an_identity_center_user_is_told_so(world: World) -> None:
    with pytest.raises(GrantError) as refused:
        await permission_sets(world).grant(
            readonly_request(requester_email="carol@example.com"), PROD, START, END
        )

    assert refused.value.code == "NoIdentityStoreUser"
    assert "carol@example.com" in refused.value.message


async def test_users_are_found_by_email_then_by_user_name(world: World) -> None:
    clients, idc = world
    center = IdentityCenter(clients)

    assert await center.user_id(idc.config, "alice@example.com") == idc.users["alice"]
    assert await center.user_id(idc.config, "bob@example.com") == idc.users["bob@example.com"]
    assert await center.user_id(idc.config, "nobody@example.com") is None


async def test_the_catalog_holds_only_the_configured_sets_with_their_descriptions(
    world: World,
) -> None:
    clients, idc = world

    found = await IdentityCenter(clients).permission_sets(idc.config, ["ReadOnlyAccess", "Gone"])

    assert [(s.name, s.description) for s in found] == [("ReadOnlyAccess", "Read everything")]


async def test_a_permission_set_no_longer_offered_is_refused(world: World) -> None:
    narrower = PROD.model_copy(update={"permission_sets": PROD.permission_sets[1:]})

    with pytest.raises(GrantError) as refused:
        await permission_sets(world).grant(readonly_request(), narrower, START, END)

    assert refused.value.code == "PermissionSetNotOffered"


async def test_joining_a_group_adds_the_membership_and_the_end_removes_it(world: World) -> None:
    clients, idc = world
    group = idc.groups["prod-support"]
    bot = groups(world)

    result = await bot.grant(join_request(), GROUPS, START, END)

    assert await members(clients, idc.config, group) == [idc.users["alice"]]
    assert result.policy_document["MembershipId"]
    assert await bot.revoke(join_request(), GROUPS) is True
    assert await members(clients, idc.config, group) == []


async def test_a_membership_the_user_already_had_is_never_removed(world: World) -> None:
    clients, idc = world
    group = idc.groups["prod-support"]
    await IdentityCenter(clients).add_member(idc.config, Membership(group, idc.users["alice"]))
    bot = groups(world)

    result = await bot.grant(join_request(), GROUPS, START, END)

    assert result.policy_document["AlreadyMember"] is True
    assert await bot.revoke(join_request(), GROUPS) is False
    assert await members(clients, idc.config, group) == [idc.users["alice"]]


async def test_a_membership_made_by_a_process_that_died_is_found_not_doubled(
    world: World,
) -> None:
    clients, idc = world
    membership = Membership(idc.groups["prod-support"], idc.users["alice"])
    await AssignmentLedger(clients, TABLE).claim(join_request().id, membership.key, False)
    await IdentityCenter(clients).add_member(idc.config, membership)

    result = await groups(world).grant(join_request(), GROUPS, START, END)

    assert result.policy_document["AlreadyMember"] is False
    assert await groups(world).revoke(join_request(), GROUPS) is True
    assert await members(clients, idc.config, membership.group_id) == []


async def test_a_group_missing_from_identity_center_is_refused_by_name(world: World) -> None:
    clients, idc = world
    config = idc.config.model_copy(update={"groups": {"gone": {}}})
    bot = GroupMembershipGranter(
        IdentityCenter(clients), AssignmentLedger(clients, TABLE), lambda: config
    )

    with pytest.raises(GrantError) as refused:
        await bot.grant(join_request(group="gone"), GROUPS, START, END)

    assert refused.value.code == "GroupNotFound"
    assert "'gone'" in refused.value.message


async def test_reconcile_removes_what_the_ledger_holds_for_no_live_request_and_nothing_else(
    world: World,
) -> None:
    clients, idc = world
    config = BotConfig.model_validate(
        {
            "approvalGroups": ["devops"],
            "dynamodb_table": TABLE,
            "identity_center": idc.config.model_dump(mode="json"),
            "accounts": {"prod": PROD.model_dump(mode="json")},
        }
    )
    theirs = Assignment(
        PROD.account_number, idc.permission_sets["AdministratorAccess"], idc.users["alice"]
    )
    await IdentityCenter(clients).create_assignment(idc.config, theirs)
    # Granted, then its request record vanished (a crash, a table restored from backup).
    await permission_sets(world).grant(readonly_request(), PROD, START, END)
    await groups(world).grant(join_request(), GROUPS, START, END)

    report = await reconcile(clients, config, DynamoStore(clients, TABLE), now=END)

    assert report.errors == []
    assert sorted(r.reason for r in report.removed) == ["no request record"] * 2
    assert await held(world) == []
    assert await members(clients, idc.config, idc.groups["prod-support"]) == []
    assert await held(world, "AdministratorAccess") == [idc.users["alice"]]


SANDBOX = PROD.model_copy(update={"access_mode": AccessMode.REQUEST_PERMISSION_SET})


def request_sets(world: World, **settings: object) -> RequestPermissionSetGranter:
    clients, idc = world
    config = idc.config.model_copy(update=settings)
    return RequestPermissionSetGranter(
        IdentityCenter(clients, poll_interval=0.05),
        AssignmentLedger(clients, TABLE),
        lambda: config,
        clock=lambda: START,
    )


async def permission_set_named(world: World, name: str) -> dict[str, object] | None:
    clients, idc = world
    async with clients.assumed("sso-admin", IDC_ROLE) as sso:
        for arn in (await sso.list_permission_sets(InstanceArn=idc.config.instance_arn))[
            "PermissionSets"
        ]:
            described = await sso.describe_permission_set(
                InstanceArn=idc.config.instance_arn, PermissionSetArn=arn
            )
            if described["PermissionSet"]["Name"] == name:
                inline = await sso.get_inline_policy_for_permission_set(
                    InstanceArn=idc.config.instance_arn, PermissionSetArn=arn
                )
                return {**described["PermissionSet"], "InlinePolicy": inline["InlinePolicy"]}
    return None


async def test_a_request_becomes_its_own_permission_set_assigned_then_deleted(
    world: World,
) -> None:
    clients, idc = world
    request = access_request(
        account_name="sandbox", account_id=SANDBOX.account_number, ticket="CHG-1234"
    )
    bot = request_sets(world)

    result = await bot.grant(request, SANDBOX, START, END)

    made = await permission_set_named(world, f"CAB-{request.id}")
    assert made is not None
    assert json.loads(str(made["InlinePolicy"])) == result.policy_document
    statement = result.policy_document["Statement"][0]
    assert statement["Condition"]["DateLessThan"] == {"aws:CurrentTime": "2025-03-04T11:00:00Z"}
    assert "aws:userid" not in json.dumps(result.policy_document)
    assert made["SessionDuration"] == "PT1H"
    assert made["Description"] == (
        f"cloud-access-bot request {request.id} for alice@example.com, ticket CHG-1234 until "
        "2025-03-04T11:00:00Z"
    )
    assert request.reason not in str(made["Description"])
    arn = str(made["PermissionSetArn"])
    found = await assignments(clients, idc.config, SANDBOX.account_number, arn)
    assert [a["PrincipalId"] for a in found] == [idc.users["alice"]]

    assert await bot.revoke(request, SANDBOX) is True
    assert await assignments(clients, idc.config, SANDBOX.account_number, arn) == []
    assert await permission_set_named(world, f"CAB-{request.id}") is None


async def test_a_full_instance_refuses_the_grant_clearly_and_makes_nothing(world: World) -> None:
    request = access_request(account_name="sandbox", account_id=SANDBOX.account_number)

    with pytest.raises(GrantError) as refused:
        await request_sets(world, permission_set_quota=2).grant(request, SANDBOX, START, END)

    assert refused.value.code == "CapacityExceeded"
    assert "permission_set_quota" in refused.value.message
    assert await permission_set_named(world, f"CAB-{request.id}") is None


async def test_a_set_made_by_a_process_that_died_is_reused_not_made_twice(world: World) -> None:
    clients, idc = world
    request = access_request(account_name="sandbox", account_id=SANDBOX.account_number)
    subject = f"cab|{SANDBOX.account_number}|{idc.users['alice']}"
    await AssignmentLedger(clients, TABLE).claim(request.id, subject, False)
    first = await IdentityCenter(clients).create_permission_set(
        idc.config, f"CAB-{request.id}", "made before the crash", "PT1H", {}
    )

    await request_sets(world).grant(request, SANDBOX, START, END)

    async with clients.assumed("sso-admin", IDC_ROLE) as sso:
        listed = await sso.list_permission_sets(InstanceArn=idc.config.instance_arn)
    assert len(listed["PermissionSets"]) == 3  # the two seeded sets and this request's one
    assert await assignments(clients, idc.config, SANDBOX.account_number, first) != []
    assert await request_sets(world).revoke(request, SANDBOX) is True
    assert await permission_set_named(world, f"CAB-{request.id}") is None
