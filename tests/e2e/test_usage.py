"""What an ended grant was used for, in Slack: "What was used" and the usage review.

CloudTrail is played by tests/cloudtrail.py (moto has no LookupEvents): it serves the records
CloudTrail would hold for the requester's session; the bot reaches it with botocore as it
reaches CloudTrail. Slack is the emulator over real Socket Mode, AWS otherwise moto's server.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from cloud_access_bot.audit.verify import verify_trail
from cloud_access_bot.aws.session_granter import session_name
from cloud_access_bot.domain.model import AccessRequest, EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    LOGIN_ROLE,
    OUTSIDER,
    REQUESTER,
    ManualClock,
    Sandbox,
)
from cloud_access_bot_sandbox.slack_workspace import Message
from tests.cloudtrail import Trail, record

BOB = APPROVERS[0]
ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket")
SESSION = session_name("alice@example.com")
YEAR = timedelta(days=365)


async def revoked_after_ten_minutes(world: Sandbox, clock: ManualClock) -> AccessRequest:
    """Alice's grant of three s3 actions, approved by Bob, revoked by her after 10 minutes."""
    bucket = world.accounts["development"].buckets[0]
    request = await world.submit(actions=ACTIONS, resources=[bucket], duration=60)
    await world.click(BOB, await world.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    await world.wait_for_status(request.id, Status.ACTIVE)
    clock.advance(minutes=10)
    mine = await message_with(world, REQUESTER, request.id, "I'm done")
    await world.click(REQUESTER, mine, views.REVOKE_ACTION)
    return await world.wait_for_status(request.id, Status.REVOKED)


def used_get_object(trail: Trail, request: AccessRequest) -> None:
    assert request.starts_at is not None
    at = request.starts_at + timedelta(minutes=2)
    account = ACCOUNTS["development"]
    trail.records = [
        record(at, "s3", "GetObject", session=SESSION, account=account, role=LOGIN_ROLE),
        record(
            at,
            "s3",
            "PutObject",
            session=SESSION,
            account=account,
            role=LOGIN_ROLE,
            error="AccessDenied",
        ),
        record(at, "s3", "DeleteObject", session="bob@example.com", role=LOGIN_ROLE),
        # Alice's own SSO role, same session name, same window: not the grant's use.
        record(
            at,
            "s3",
            "ListBucket",
            session=SESSION,
            account=account,
            role="AWSReservedSSO_AdministratorAccess_0123456789abcdef",
            role_path="/aws-reserved/sso.amazonaws.com/",
        ),
    ]


async def with_usage_button(world: Sandbox, user: str, request_id: str) -> Message:
    return await message_with(world, user, request_id, "What was used")


async def message_with(world: Sandbox, user: str, *words: str) -> Message:
    """The message to ``user`` whose text (blocks included) has all ``words``."""
    return await world.emulator.wait_for_message(
        user, lambda m: all(w in m.flat_text for w in words)
    )


async def test_what_was_used_shows_the_sessions_calls_to_requester_not_to_a_stranger(
    world: Sandbox, clock: ManualClock, trail: Trail
) -> None:
    request = await revoked_after_ten_minutes(world, clock)
    used_get_object(trail, request)

    mine = await with_usage_button(world, REQUESTER, request.id)
    await world.click(REQUESTER, mine, views.USAGE_ACTION)
    modal = await world.emulator.wait_for_view(REQUESTER, "what_was_used")
    await world.emulator.wait_until(lambda: "s3:GetObject" in modal.text, description="the answer")
    assert "used 1 of 3 actions; never used s3:PutObject, s3:ListBucket" in modal.text
    assert "AccessDenied x1" in modal.text and "DeleteObject" not in modal.text
    # Bob approved it: his DM has the button too, and the same answer.
    await world.click(BOB, await with_usage_button(world, BOB, request.id), views.USAGE_ACTION)
    bobs = await world.emulator.wait_for_view(BOB, "what_was_used")
    await world.emulator.wait_until(lambda: "s3:GetObject" in bobs.text, description="Bob's answer")

    # Mallory forges a click on Alice's message: refused, no modal, no CloudTrail read.
    calls = trail.calls
    await world.click(OUTSIDER, mine, views.USAGE_ACTION)
    await message_with(world, OUTSIDER, "Only the requester, the approvers and admins")
    assert world.emulator.modal(OUTSIDER) is None and trail.calls == calls


async def test_what_was_used_says_when_cloudtrail_refuses(
    world: Sandbox, clock: ManualClock, trail: Trail
) -> None:
    request = await revoked_after_ten_minutes(world, clock)
    trail.denied = True

    await world.click(
        REQUESTER, await with_usage_button(world, REQUESTER, request.id), views.USAGE_ACTION
    )
    modal = await world.emulator.wait_for_view(REQUESTER, "what_was_used")
    await world.emulator.wait_until(
        lambda: "access denied" in modal.text, description="the problem"
    )
    assert "cloudtrail:LookupEvents" in modal.text and "try again" in modal.text


async def review_dm(world: Sandbox, request_id: str) -> Message:
    return await message_with(world, REQUESTER, request_id, " of 3 actions")


async def test_the_review_after_the_delay_is_recorded_and_offers_the_smaller_set(
    world: Sandbox, clock: ManualClock, trail: Trail
) -> None:
    request = await revoked_after_ten_minutes(world, clock)
    used_get_object(trail, request)
    # A restart between the end and the review loses nothing: the review is in the table.
    await world.stop_bot()
    await world.start_bot()
    clock.advance(minutes=14)
    await asyncio.sleep(2.5)  # a few sweeps (one a second)
    events = [e.type for e in await world.store.events(request.id)]
    assert EventType.USAGE_REVIEWED not in events  # CloudTrail may still be delivering
    clock.advance(minutes=2)

    dm = await review_dm(world, request.id)
    assert "used 1 of 3 actions; never used s3:PutObject, s3:ListBucket" in dm.text
    reviewed = [
        e for e in await world.store.events(request.id) if e.type is EventType.USAGE_REVIEWED
    ]
    assert len(reviewed) == 1 and reviewed[0].status is Status.REVOKED
    assert reviewed[0].details["used"] == ["s3:GetObject"]
    assert reviewed[0].details["unused"] == ["s3:PutObject", "s3:ListBucket"]
    # The review is part of the chain and its seals like any other step.
    now = clock() + timedelta(minutes=1)
    report = await verify_trail(world.store, since=None, until=now, now=now, retention=YEAR)
    assert report.ok, report.lines()

    await world.click(REQUESTER, dm, views.SMALLER_SET_ACTION)
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    picked = modal.element(views.ACTIONS_ACTION).get("initial_options", [])
    assert [o["value"] for o in picked] == ["s3:GetObject"]
    bucket = world.accounts["development"].buckets[0]
    assert bucket in modal.element(views.ARNS_ACTION).get("initial_value", "")
    role = modal.element(views.LOGIN_ROLE_ACTION).get("initial_option", {})
    assert role.get("value") == request.login_role

    # Mallory forging the click gets no modal of Alice's access.
    await world.click(OUTSIDER, dm, views.SMALLER_SET_ACTION)
    await message_with(world, OUTSIDER, "Only the requester can ask")
    assert world.emulator.modal(OUTSIDER) is None


async def test_a_grant_that_used_nothing_is_told_so_without_a_button(
    world: Sandbox, clock: ManualClock, trail: Trail
) -> None:
    request = await revoked_after_ten_minutes(world, clock)
    clock.advance(minutes=16)

    dm = await review_dm(world, request.id)
    assert "used 0 of 3 actions" in dm.text and "Nothing was used" in dm.flat_text
    assert "Request the same smaller set" not in dm.flat_text
