"""IAM Identity Center permission sets through the modal, over Socket Mode, against moto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloud_access_bot.audit.queries import who_had_access
from cloud_access_bot.aws.identity_center import Assignment, IdentityCenter
from cloud_access_bot.config import GROUPS_ACCOUNT, IdentityCenterConfig
from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import identity_center_views as ic_views
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.identity_center import assignments, members, seed_identity_center
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    OUTSIDER,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)

BOB, CAROL = APPROVERS
PROD = ACCOUNTS["production"]


@pytest.fixture
async def world(
    aws: str, clock: ManualClock
) -> AsyncIterator[tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]]]:
    """The sandbox with production granting Identity Center permission sets."""
    async with sandbox(clock=clock, start=False) as made:
        seeded = await seed_identity_center(
            made.clients,
            permission_sets={
                "ReadOnlyAccess": "Read everything",
                "AdministratorAccess": "Everything",
                "Unlisted": "Not offered by the bot",
            },
        )
        center, users, arns = seeded.config, seeded.users, seeded.permission_sets
        arns = {**arns, **{f"group:{name}": gid for name, gid in seeded.groups.items()}}
        accounts: dict[str, Any] = {
            name: {
                "account_number": number,
                "iam_role": f"arn:aws:iam::{number}:role/cloud-access-bot",
            }
            for name, number in ACCOUNTS.items()
        }
        accounts["development"] |= {"access_mode": "request_permission_set"}
        accounts["production"] |= {
            "access_mode": "permission_set",
            "permission_sets": [
                "ReadOnlyAccess",
                {"name": "AdministratorAccess", "approvals_required": 2},
            ],
        }
        made.config = sandbox_config(
            accounts=accounts, identity_center=center.model_dump(mode="json")
        )
        await made.start_bot()
        yield made, center, users, arns
        assert not made.emulator.problems, made.emulator.problems
        assert len(made.emulator.acks) == len(made.emulator.envelopes), "an envelope was not acked"


async def ask_for(
    world: Sandbox,
    permission_set: str,
    *,
    user: str = REQUESTER,
    duration: int = 15,
    account: str = "production",
) -> dict[str, Any]:
    """Open /request, pick the account, then the permission set (or group); returns the
    submit ack."""
    emulator = world.emulator
    await emulator.slash_command(user, "/request")
    modal = await emulator.wait_for_view(user, views.REQUEST_CALLBACK)
    await modal.select(views.ACCOUNT_ACTION, account)
    await modal.wait_updated()
    assert modal.callback_id == ic_views.PERMISSION_SET_CALLBACK
    await modal.fill(views.REASON_ACTION, "Check the prod dashboards")
    await modal.select(views.DURATION_ACTION, str(duration))
    await modal.select(ic_views.PERMISSION_SET_ACTION, permission_set)
    return await modal.submit()


async def test_read_only_access_in_prod_for_15_minutes_is_assigned_audited_and_removed(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
    clock: ManualClock,
) -> None:
    sandbox_, center, users, arns = world
    ack = await ask_for(sandbox_, "ReadOnlyAccess")
    assert ack.get("response_action") != "errors", ack
    request = await sandbox_.latest_request()
    dm = await sandbox_.approval_dm(BOB, request.id)
    assert "ReadOnlyAccess" in dm.flat_text

    await sandbox_.click(BOB, dm, views.APPROVE_ACTION)
    active = await sandbox_.wait_for_status(request.id, Status.ACTIVE)

    held = await assignments(sandbox_.clients, center, PROD, arns["ReadOnlyAccess"])
    assert [(a["PrincipalType"], a["PrincipalId"]) for a in held] == [("USER", users["alice"])]
    assert active.expires_at and active.starts_at
    assert (active.expires_at - active.starts_at).total_seconds() == 15 * 60
    events = await sandbox_.runtime.store.events(request.id)
    granted = events[-1]
    assert granted.type is EventType.GRANTED
    assert granted.details["policy_document"]["AssignmentCreationRequestId"]

    clock.advance(minutes=15, seconds=1)
    await sandbox_.wait_for_status(request.id, Status.EXPIRED)
    assert await assignments(sandbox_.clients, center, PROD, arns["ReadOnlyAccess"]) == []
    await sandbox_.emulator.wait_for_message(REQUESTER, lambda m: "Expired" in m.text)
    had = await who_had_access(
        sandbox_.runtime.store, PROD, active.starts_at, active.expires_at, action="s3:GetObject"
    )
    assert [(a.request.id, a.grants[0].actions) for a in had] == [
        (request.id, ("permission-set:ReadOnlyAccess",))
    ]


async def test_the_modal_offers_only_the_configured_sets_with_their_descriptions(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    sandbox_ = world[0]
    await sandbox_.emulator.slash_command(REQUESTER, "/request")
    modal = await sandbox_.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.select(views.ACCOUNT_ACTION, "production")
    await modal.wait_updated()

    offered = modal.options(ic_views.PERMISSION_SET_ACTION)
    assert [(o["value"], o["description"]["text"]) for o in offered] == [
        ("ReadOnlyAccess", "Read everything"),
        ("AdministratorAccess", "Everything"),
    ]
    assert "session you already opened" in modal.text


async def test_a_set_needing_two_approvals_is_assigned_after_the_second(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    sandbox_, center, _, arns = world
    await ask_for(sandbox_, "AdministratorAccess")
    request = await sandbox_.latest_request()
    assert request.approvals_required == 2

    await sandbox_.click(BOB, await sandbox_.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    await sandbox_.wait_for(
        lambda: _approvals(sandbox_, request.id, 1), "the first approval recorded"
    )
    assert await assignments(sandbox_.clients, center, PROD, arns["AdministratorAccess"]) == []
    await sandbox_.click(CAROL, await sandbox_.approval_dm(CAROL, request.id), views.APPROVE_ACTION)
    await sandbox_.wait_for_status(request.id, Status.ACTIVE)
    assert len(await assignments(sandbox_.clients, center, PROD, arns["AdministratorAccess"])) == 1


async def _approvals(world: Sandbox, request_id: str, count: int) -> bool:
    stored = await world.runtime.store.get(request_id)
    return stored is not None and len(stored.approvals) == count


async def test_a_user_without_an_identity_center_user_is_told_before_any_approver(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
) -> None:
    sandbox_ = world[0]

    await ask_for(sandbox_, "ReadOnlyAccess", user=OUTSIDER)

    told = await sandbox_.emulator.wait_for_message(
        OUTSIDER, lambda m: "No IAM Identity Center user" in m.text
    )
    assert "mallory@example.com" in told.text
    assert await sandbox_.runtime.store.for_user(OUTSIDER) == []
    assert sandbox_.emulator.messages_to(BOB) == []


async def test_an_assignment_alice_already_had_survives_the_grant_ending(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
    clock: ManualClock,
) -> None:
    sandbox_, center, users, arns = world
    theirs = Assignment(PROD, arns["ReadOnlyAccess"], users["alice"])
    await IdentityCenter(sandbox_.clients).create_assignment(center, theirs)
    await ask_for(sandbox_, "ReadOnlyAccess", duration=1)
    request = await sandbox_.latest_request()
    await sandbox_.click(BOB, await sandbox_.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    await sandbox_.wait_for_status(request.id, Status.ACTIVE)

    clock.advance(minutes=1, seconds=1)
    await sandbox_.wait_for_status(request.id, Status.EXPIRED)

    held = await assignments(sandbox_.clients, center, PROD, arns["ReadOnlyAccess"])
    assert [a["PrincipalId"] for a in held] == [users["alice"]]


async def test_a_restart_mid_grant_still_removes_the_assignment_on_time(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
    clock: ManualClock,
) -> None:
    sandbox_, center, _, arns = world
    await ask_for(sandbox_, "ReadOnlyAccess")
    request = await sandbox_.latest_request()
    await sandbox_.click(BOB, await sandbox_.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    await sandbox_.wait_for_status(request.id, Status.ACTIVE)

    await sandbox_.stop_bot()
    await sandbox_.start_bot()
    clock.advance(minutes=15, seconds=1)

    await sandbox_.wait_for_status(request.id, Status.EXPIRED)
    assert await assignments(sandbox_.clients, center, PROD, arns["ReadOnlyAccess"]) == []


async def test_joining_a_group_for_an_hour_adds_then_removes_the_membership(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
    clock: ManualClock,
) -> None:
    sandbox_, center, users, ids = world
    group = ids["group:prod-support"]

    ack = await ask_for(sandbox_, "prod-support", duration=60, account=GROUPS_ACCOUNT)
    assert ack.get("response_action") != "errors", ack
    request = await sandbox_.latest_request()
    assert request.group == "prod-support"
    dm = await sandbox_.approval_dm(BOB, request.id)
    assert "group* `prod-support`" in dm.flat_text
    await sandbox_.click(BOB, dm, views.APPROVE_ACTION)
    await sandbox_.wait_for_status(request.id, Status.ACTIVE)
    assert await members(sandbox_.clients, center, group) == [users["alice"]]

    clock.advance(minutes=59)
    await sandbox_.runtime.service.sweep()
    assert await members(sandbox_.clients, center, group) == [users["alice"]]
    clock.advance(minutes=1, seconds=1)
    await sandbox_.wait_for_status(request.id, Status.EXPIRED)
    assert await members(sandbox_.clients, center, group) == []
    events = await sandbox_.runtime.store.events(request.id)
    assert [e.type for e in events] == [
        EventType.REQUESTED,
        EventType.APPROVED,
        EventType.GRANTED,
        EventType.EXPIRED,
    ]


async def test_a_request_shaped_permission_set_is_made_assigned_and_deleted_on_time(
    world: tuple[Sandbox, IdentityCenterConfig, dict[str, str], dict[str, str]],
    clock: ManualClock,
) -> None:
    sandbox_, center, users, _ = world
    bucket = sandbox_.accounts["development"].buckets[0]

    ack = await sandbox_.request(
        account="development",
        login_role=None,
        actions=["s3:GetObject"],
        resources=[bucket],
        duration=15,
    )
    assert ack.get("response_action") != "errors", ack
    request = await sandbox_.latest_request()
    await sandbox_.click(BOB, await sandbox_.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    active = await sandbox_.wait_for_status(request.id, Status.ACTIVE)

    assert active.policy_name == f"CAB-{request.id}"
    arn = await IdentityCenter(sandbox_.clients).find_permission_set(center, active.policy_name)
    found = await assignments(sandbox_.clients, center, ACCOUNTS["development"], arn)
    assert [a["PrincipalId"] for a in found] == [users["alice"]]
    granted = (await sandbox_.runtime.store.events(request.id))[-1]
    statement = granted.details["policy_document"]["Statement"][0]
    assert statement["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert "DateLessThan" in statement["Condition"]

    clock.advance(minutes=15, seconds=1)
    await sandbox_.wait_for_status(request.id, Status.EXPIRED)
    assert (
        await IdentityCenter(sandbox_.clients).find_permission_set(center, active.policy_name) == ""
    )
    assert await assignments(sandbox_.clients, center, ACCOUNTS["development"], arn) == []
