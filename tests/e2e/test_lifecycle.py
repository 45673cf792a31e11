"""The request lifecycle through the real AsyncSocketModeHandler, the emulator and moto."""

from __future__ import annotations

import asyncio
from typing import Any

from cloud_access_bot.audit.matching import policy_statements
from cloud_access_bot.domain.model import EventType, Status, iso
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    LOGIN_ROLE,
    OUTSIDER,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox_config,
)

BOB, CAROL = APPROVERS


async def submit_and_wait_pending(world: Sandbox, **kwargs: Any) -> str:
    request = await world.submit(**kwargs)
    assert request.status is Status.PENDING
    return request.id


async def test_approve_writes_scoped_policy_and_tells_everyone(world: Sandbox) -> None:
    account = world.accounts["development"]
    bucket = account.buckets[0]
    request_id = await submit_and_wait_pending(
        world, resources=[bucket], actions=["s3:GetObject", "s3:ListBucket"]
    )
    bob_dm = await world.approval_dm(BOB, request_id)
    carol_dm = await world.approval_dm(CAROL, request_id)
    assert "s3:GetObject" in bob_dm.flat_text and "Investigate a failed export" in bob_dm.flat_text

    await world.click(BOB, bob_dm, views.APPROVE_ACTION)
    active = await world.wait_for_status(request_id, Status.ACTIVE)

    policies = await inline_policies(world.clients, account)
    document = policies[active.policy_name or ""]
    async with world.clients.assumed("iam", account.bot_role_arn) as iam:
        role_id = (await iam.get_role(RoleName=LOGIN_ROLE))["Role"]["RoleId"]
    assert active.starts_at and active.expires_at
    for statement in document["Statement"]:
        assert statement["Condition"] == {
            "StringEqualsIgnoreCase": {"aws:userid": f"{role_id}:alice@example.com"},
            "DateGreaterThan": {"aws:CurrentTime": iso(active.starts_at)},
            "DateLessThan": {"aws:CurrentTime": iso(active.expires_at)},
            "StringEquals": {"aws:ResourceAccount": account.account_id},
        }
    # IAM ignores a pair whose ARN is not of a type the action takes, so what counts is the
    # effective (action, ARN) pairs: objects for GetObject, the bucket for ListBucket.
    granted = {(a, r) for s in policy_statements(document) for a in s.actions for r in s.resources}
    assert granted == {
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    }
    assert (active.expires_at - active.starts_at).total_seconds() == 60

    events = await world.runtime.store.events(request_id)
    assert [(e.type, e.actor) for e in events] == [
        (EventType.REQUESTED, REQUESTER),
        (EventType.APPROVED, BOB),
        (EventType.GRANTED, BOB),
    ]
    # Every approver's DM shows the decision and loses its buttons; the requester is told.
    carol_now = await world.emulator.wait_for_message(
        CAROL, lambda m: m.ts == carol_dm.ts and "Active until" in m.flat_text
    )
    buttons = [
        e["action_id"] for b in carol_now.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == [views.REVOKE_ACTION, views.SHOW_FULL_ACTION]
    assert f"<@{BOB}>" in carol_now.flat_text
    told = await world.emulator.wait_for_message(REQUESTER, lambda m: "Access granted" in m.text)
    assert iso(active.expires_at) in told.text
    # The requester had two DMs (their request, then "Access granted"): one DM channel.
    opened = [c for c in world.emulator.calls_to("conversations.open") if REQUESTER in str(c.args)]
    assert len(opened) == 1


async def test_deny_with_reason_tells_requester_and_grants_nothing(world: Sandbox) -> None:
    account = world.accounts["development"]
    request_id = await submit_and_wait_pending(world, resources=[account.buckets[0]])
    carol_dm = await world.approval_dm(CAROL, request_id)

    await world.click(CAROL, carol_dm, views.DENY_ACTION)
    modal = await world.emulator.wait_for_view(CAROL, views.DENY_CALLBACK)
    await modal.fill(views.REASON_INPUT, "Use the read-only role <!channel>")
    await modal.submit()

    denied = await world.wait_for_status(request_id, Status.DENIED)
    assert denied.decided_by == CAROL
    told = await world.emulator.wait_for_message(REQUESTER, lambda m: "Denied" in m.text)
    assert "Use the read-only role &lt;!channel&gt;" in told.text
    assert await inline_policies(world.clients, account) == {}
    bob_dm = world.emulator.messages_to(BOB)[0]
    await world.emulator.wait_until(lambda: "Denied" in bob_dm.flat_text)


async def test_grant_expires_and_policy_is_removed(world: Sandbox, clock: ManualClock) -> None:
    account = world.accounts["development"]
    request_id = await submit_and_wait_pending(world, resources=[account.buckets[0]])
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.policy_name in await inline_policies(world.clients, account)

    clock.advance(minutes=1, seconds=1)
    expired = await world.wait_for_status(request_id, Status.EXPIRED)

    assert expired.policy_name not in await inline_policies(world.clients, account)
    events = await world.runtime.store.events(request_id)
    assert events[-1].type is EventType.EXPIRED
    await world.emulator.wait_for_message(REQUESTER, lambda m: "Expired" in m.text)


async def test_two_approvers_at_the_same_instant_grant_once(world: Sandbox) -> None:
    account = world.accounts["development"]
    request_id = await submit_and_wait_pending(world, resources=[account.buckets[0]])
    bob_dm = await world.approval_dm(BOB, request_id)
    carol_dm = await world.approval_dm(CAROL, request_id)

    await asyncio.gather(
        world.click(BOB, bob_dm, views.APPROVE_ACTION),
        world.click(CAROL, carol_dm, views.APPROVE_ACTION),
    )
    active = await world.wait_for_status(request_id, Status.ACTIVE)
    loser = CAROL if active.decided_by == BOB else BOB
    await world.emulator.wait_for_message(loser, lambda m: "already approved" in m.text)

    events = await world.runtime.store.events(request_id)
    assert [e.type for e in events].count(EventType.APPROVED) == 1
    assert [e.type for e in events].count(EventType.GRANTED) == 1
    assert len(await inline_policies(world.clients, account)) == 1


async def test_click_by_non_approver_is_refused(world: Sandbox) -> None:
    account = world.accounts["development"]
    request_id = await submit_and_wait_pending(world, resources=[account.buckets[0]])
    forwarded = await world.approval_dm(BOB, request_id)

    await world.click(OUTSIDER, forwarded, views.APPROVE_ACTION)

    await world.emulator.wait_for_message(OUTSIDER, lambda m: "devops" in m.text)
    assert (await world.runtime.store.get(request_id)).status is Status.PENDING  # type: ignore[union-attr]


async def test_invalid_submission_names_the_field_and_stores_nothing(world: Sandbox) -> None:
    foreign = "arn:aws:s3:::bucket-elsewhere/../x"
    other_account_table = "arn:aws:dynamodb:eu-west-1:999999999999:table/orders"
    ack = await world.request(
        service="dynamodb", actions=["dynamodb:GetItem"], arns=[other_account_table]
    )
    assert ack["response_action"] == "errors"
    assert "999999999999" in " ".join(ack["errors"].values())
    assert await world.runtime.store.for_user(REQUESTER) == []
    ack = await world.request(arns=[foreign], actions=[])
    assert ack["response_action"] == "errors"
    assert await world.runtime.store.for_user(REQUESTER) == []


async def test_restart_keeps_pending_and_active_requests(
    world: Sandbox, clock: ManualClock
) -> None:
    account = world.accounts["development"]
    active_id = await submit_and_wait_pending(world, resources=[account.buckets[0]])
    await world.click(BOB, await world.approval_dm(BOB, active_id), views.APPROVE_ACTION)
    await world.wait_for_status(active_id, Status.ACTIVE)
    pending_id = await submit_and_wait_pending(world, resources=[account.buckets[1]])
    pending_dm = await world.approval_dm(BOB, pending_id)

    await world.stop_bot()
    await world.start_bot()

    await world.click(BOB, pending_dm, views.APPROVE_ACTION)
    await world.wait_for_status(pending_id, Status.ACTIVE)
    clock.advance(minutes=1, seconds=1)
    await world.wait_for_status(active_id, Status.EXPIRED)
    await world.wait_for_status(pending_id, Status.EXPIRED)
    assert await inline_policies(world.clients, account) == {}


async def test_grant_message_offers_the_console_link_when_configured(world: Sandbox) -> None:
    accounts = world.config.model_dump(mode="json")["accounts"]
    accounts["development"]["console_login_url"] = "https://acme.awsapps.com/start"
    world.config = sandbox_config(accounts=accounts)
    request_id = await submit_and_wait_pending(
        world, resources=[world.accounts["development"].buckets[0]]
    )
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)

    told = await world.emulator.wait_for_message(REQUESTER, lambda m: "Access granted" in m.text)
    assert "<https://acme.awsapps.com/start|AWS console>" in told.text
