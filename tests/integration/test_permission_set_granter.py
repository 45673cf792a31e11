"""The permission_set access mode against moto's sso-admin and identitystore.

moto answers every assignment status with SUCCEEDED at once, so polling is exercised for its
happy path only; the FAILED and still-IN_PROGRESS branches are not reachable through moto.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from target_account import END, START, access_request

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.identity_center import Assignment, AssignmentLedger, IdentityCenter
from cloud_access_bot.aws.permission_set_granter import PermissionSetGranter
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import AccessMode, AccountConfig, IdentityCenterConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.ports import GrantError
from cloud_access_bot_sandbox.identity_center import IDC_ROLE, assignments, seed_identity_center

TABLE = "idc"
PROD = AccountConfig(
    account_number="222222222222",
    iam_role="arn:aws:iam::222222222222:role/cloud-access-bot",
    access_mode=AccessMode.PERMISSION_SET,
    permission_sets=["ReadOnlyAccess", "AdministratorAccess"],
)


@pytest.fixture
async def seeded(
    aws: str,
) -> AsyncIterator[tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]]]:
    clients = AwsClients(region="eu-west-1")
    await DynamoStore(clients, TABLE).ensure_table()
    config, users, arns = await seed_identity_center(
        clients, users={"alice": "alice@example.com", "bob@example.com": "robert@corp.example"}
    )
    yield clients, config, users, arns
    await clients.close()


def granter(clients: AwsClients, config: IdentityCenterConfig) -> PermissionSetGranter:
    return PermissionSetGranter(
        IdentityCenter(clients, poll_interval=0.05),
        AssignmentLedger(clients, TABLE),
        lambda: config,
    )


def readonly_request(**changes: object) -> AccessRequest:
    return access_request(
        account_name="prod",
        account_id=PROD.account_number,
        login_role="ReadOnlyAccess",
        services=(),
        permission_set="ReadOnlyAccess",
    ).with_changes(**changes)


async def test_approval_assigns_the_permission_set_to_the_user_and_expiry_removes_it(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    clients, config, users, arns = seeded
    bot = granter(clients, config)

    result = await bot.grant(readonly_request(), PROD, START, END)

    held = await assignments(clients, config, PROD.account_number, arns["ReadOnlyAccess"])
    assert [(a["PrincipalType"], a["PrincipalId"]) for a in held] == [("USER", users["alice"])]
    assert result.policy_document["AssignmentCreationRequestId"]
    assert result.policy_document["AlreadyAssigned"] is False
    assert await bot.revoke(readonly_request(), PROD) is True
    assert await assignments(clients, config, PROD.account_number, arns["ReadOnlyAccess"]) == []
    assert await bot.revoke(readonly_request(), PROD) is False


async def test_an_assignment_the_user_already_had_is_never_removed(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    clients, config, users, arns = seeded
    theirs = Assignment(PROD.account_number, arns["ReadOnlyAccess"], users["alice"])
    await IdentityCenter(clients).create_assignment(config, theirs)
    bot = granter(clients, config)

    result = await bot.grant(readonly_request(), PROD, START, END)
    removed = await bot.revoke(readonly_request(), PROD)

    assert result.policy_document["AlreadyAssigned"] is True
    assert removed is False
    held = await assignments(clients, config, PROD.account_number, arns["ReadOnlyAccess"])
    assert [a["PrincipalId"] for a in held] == [users["alice"]]


async def test_two_requests_for_the_same_assignment_share_it_until_the_last_ends(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    clients, config, _, arns = seeded
    bot = granter(clients, config)
    first, second = readonly_request(), readonly_request(id="0123456789cd")
    await bot.grant(first, PROD, START, END)
    shared = await bot.grant(second, PROD, START, END)

    assert shared.policy_document["AlreadyAssigned"] is False
    assert await bot.revoke(first, PROD) is False
    assert len(await assignments(clients, config, PROD.account_number, arns["ReadOnlyAccess"])) == 1
    assert await bot.revoke(second, PROD) is True
    assert await assignments(clients, config, PROD.account_number, arns["ReadOnlyAccess"]) == []


async def test_an_assignment_made_by_a_process_that_died_is_finished_and_later_removed(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    """The first process recorded its intent and asked AWS, then died before recording the
    creation: the next attempt must not take the assignment for the user's own."""
    clients, config, users, arns = seeded
    assignment = Assignment(PROD.account_number, arns["ReadOnlyAccess"], users["alice"])
    await AssignmentLedger(clients, TABLE).claim(readonly_request().id, assignment, False)
    await IdentityCenter(clients).create_assignment(config, assignment)

    result = await granter(clients, config).grant(readonly_request(), PROD, START, END)

    assert result.policy_document["AlreadyAssigned"] is False
    assert len(await assignments(clients, config, PROD.account_number, arns["ReadOnlyAccess"])) == 1
    assert await granter(clients, config).revoke(readonly_request(), PROD) is True
    assert await assignments(clients, config, PROD.account_number, arns["ReadOnlyAccess"]) == []


async def test_a_requester_without_an_identity_center_user_is_told_so(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    clients, config, _, _ = seeded

    with pytest.raises(GrantError) as refused:
        await granter(clients, config).grant(
            readonly_request(requester_email="carol@example.com"), PROD, START, END
        )

    assert refused.value.code == "NoIdentityStoreUser"
    assert "carol@example.com" in refused.value.message


async def test_users_are_found_by_email_then_by_user_name(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    clients, config, users, _ = seeded
    center = IdentityCenter(clients)

    assert await center.user_id(config, "alice@example.com") == users["alice"]
    assert await center.user_id(config, "bob@example.com") == users["bob@example.com"]
    assert await center.user_id(config, "nobody@example.com") is None


async def test_the_catalog_holds_only_the_configured_sets_with_their_descriptions(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    clients, config, _, _ = seeded

    found = await IdentityCenter(clients).permission_sets(config, ["ReadOnlyAccess", "Missing"])

    assert [(s.name, s.description) for s in found] == [("ReadOnlyAccess", "Read everything")]


async def test_a_permission_set_no_longer_offered_is_refused(
    seeded: tuple[AwsClients, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    clients, config, _, _ = seeded
    narrower = PROD.model_copy(update={"permission_sets": PROD.permission_sets[1:]})

    with pytest.raises(GrantError) as refused:
        await granter(clients, config).grant(readonly_request(), narrower, START, END)

    assert refused.value.code == "PermissionSetNotOffered"
    assert IDC_ROLE not in refused.value.message
