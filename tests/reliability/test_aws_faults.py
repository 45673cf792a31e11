"""AWS failures injected between the bot and moto: retried where sensible, otherwise FAILED with
a message people can act on; a DynamoDB outage during a click changes nothing half-way."""

from __future__ import annotations

from datetime import datetime

import pytest

from cloud_access_bot.config import AccessMode, AccountConfig
from cloud_access_bot.domain.model import AccessRequest, EventType, Status
from cloud_access_bot.ports import GrantResult
from cloud_access_bot.service import STUCK_APPROVAL
from cloud_access_bot.slack import batch_views, views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, ManualClock, Sandbox
from tests.e2e.test_multi_account import batch_of, card
from tests.reliability.reliability_kit import BOB, stored, submit


async def approve(world: Sandbox, request_id: str) -> None:
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)


def expire_iam_credentials(proxy: AwsFaultProxy) -> set[str]:
    """Every assumed-role key used for IAM so far is now expired; returns them."""
    keys = {call.access_key for call in proxy.calls_to("iam")}
    for key in keys:
        proxy.inject("expired_token", "iam", access_key=key, times=None)
    return keys


@pytest.mark.parametrize(
    ("kind", "operation"),
    [
        ("throttle", "PutRolePolicy"),
        pytest.param("server_error", "PutRolePolicy", marks=pytest.mark.slow),
        ("drop", "GetRole"),
        pytest.param("throttle", "AssumeRole", marks=pytest.mark.slow),
    ],
)
async def test_short_bursts_are_retried_and_the_grant_lands(
    world: Sandbox, aws_faults: AwsFaultProxy, kind: str, operation: str
) -> None:
    service = "sts" if operation == "AssumeRole" else "iam"
    request_id = await submit(world)
    if service == "sts":
        expire_iam_credentials(aws_faults)
    fault = aws_faults.inject(kind, service, operation, times=2)

    await approve(world, request_id)

    await world.wait_for_status(request_id, Status.ACTIVE)

    assert fault.hits == 2


async def test_expired_assumed_role_credentials_are_renewed(
    world: Sandbox, aws_faults: AwsFaultProxy
) -> None:
    request_id = await submit(world)
    old_keys = expire_iam_credentials(aws_faults)
    assumed_before = len(aws_faults.calls_to("sts", "AssumeRole"))

    await approve(world, request_id)

    await world.wait_for_status(request_id, Status.ACTIVE)

    assert len(aws_faults.calls_to("sts", "AssumeRole")) == assumed_before + 1
    assert aws_faults.calls_to("iam")[-1].access_key not in old_keys


async def test_iam_access_denied_fails_the_request_and_says_why(
    world: Sandbox, aws_faults: AwsFaultProxy
) -> None:
    aws_faults.inject("access_denied", "iam", "PutRolePolicy", times=None)
    request_id = await submit(world)

    await approve(world, request_id)

    failed = await world.wait_for_status(request_id, Status.FAILED)
    assert "is not allowed to change role" in (failed.failure_reason or "")
    await world.emulator.wait_for_message(
        REQUESTER, lambda m: request_id in m.text and "not allowed" in m.text
    )
    for approver in APPROVERS:
        await world.emulator.wait_for_message(
            approver, lambda m: request_id in m.flat_text and "not allowed" in m.flat_text
        )


async def test_role_that_cannot_be_assumed_fails_the_request_and_says_why(
    world: Sandbox, aws_faults: AwsFaultProxy
) -> None:
    request_id = await submit(world)
    expire_iam_credentials(aws_faults)
    aws_faults.inject("access_denied", "sts", "AssumeRole", times=None)

    await approve(world, request_id)

    failed = await world.wait_for_status(request_id, Status.FAILED)
    assert "cannot assume" in (failed.failure_reason or "")
    await world.emulator.wait_for_message(REQUESTER, lambda m: "cannot assume" in m.text)


@pytest.mark.parametrize("operation", ["GetItem", "TransactWriteItems"])
async def test_dynamodb_down_during_a_click_tells_the_clicker_and_writes_nothing(
    world: Sandbox, aws_faults: AwsFaultProxy, operation: str
) -> None:
    request_id = await submit(world)
    dm = await world.approval_dm(BOB, request_id)
    aws_faults.inject("access_denied", "dynamodb", operation, times=None)

    await world.click(BOB, dm, views.APPROVE_ACTION)

    await world.emulator.wait_for_message(BOB, lambda m: "try again" in m.text)
    aws_faults.clear()
    request = await stored(world).get(request_id)
    assert request is not None and request.status is Status.PENDING
    assert [e.type for e in await stored(world).events(request_id)] == [EventType.REQUESTED]
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
    await world.click(BOB, dm, views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)


async def test_dynamodb_down_after_the_policy_is_written_is_finished_by_the_sweeper(
    world: Sandbox, aws_faults: AwsFaultProxy, clock: ManualClock
) -> None:
    granter = world.runtime.service._granters[AccessMode.INLINE_POLICY]
    real = granter.grant

    async def then_dynamodb_fails(
        request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        result = await real(request, account, start, end)
        aws_faults.inject("access_denied", "dynamodb", "TransactWriteItems", times=None)
        return result

    granter.grant = then_dynamodb_fails  # type: ignore[method-assign]
    request_id = await submit(world, duration=15)
    await approve(world, request_id)
    await world.emulator.wait_for_message(BOB, lambda m: "database" in m.text)
    assert (await stored(world).get(request_id)).status is Status.APPROVED  # type: ignore[union-attr]

    aws_faults.clear()
    granter.grant = real  # type: ignore[method-assign]
    clock.advance(seconds=STUCK_APPROVAL.total_seconds() + 1)

    await world.wait_for_status(request_id, Status.ACTIVE)


@pytest.mark.slow
async def test_an_approval_iam_cannot_take_yet_tells_the_approver_it_stands(
    world: Sandbox, aws_faults: AwsFaultProxy
) -> None:
    aws_faults.inject("server_error", "iam", "PutRolePolicy", times=None)
    request_id = await submit(world, duration=15)

    await approve(world, request_id)

    told = await world.emulator.wait_for_message(
        BOB, lambda m: "not in place yet" in m.text, timeout=60
    )
    assert f"`{request_id}` is approved" in told.text
    assert "(InternalFailure)" in told.text
    assert (await stored(world).get(request_id)).status is Status.APPROVED  # type: ignore[union-attr]


@pytest.mark.slow
async def test_throttling_longer_than_botocore_retries_is_recovered_by_the_sweeper(
    world: Sandbox, aws_faults: AwsFaultProxy, clock: ManualClock
) -> None:
    aws_faults.inject("throttle", "iam", "PutRolePolicy", times=None)
    request_id = await submit(world, duration=15)

    await approve(world, request_id)
    await world.emulator.wait_for_message(BOB, lambda m: "try again" in m.text, timeout=60)
    assert (await stored(world).get(request_id)).status is Status.APPROVED  # type: ignore[union-attr]

    aws_faults.clear()
    clock.advance(seconds=STUCK_APPROVAL.total_seconds() + 1)
    await world.wait_for_status(request_id, Status.ACTIVE)


@pytest.mark.slow
async def test_a_read_timeout_is_retried(world: Sandbox, aws_faults: AwsFaultProxy) -> None:
    fault = aws_faults.inject("delay", "iam", "PutRolePolicy", seconds=11)
    request_id = await submit(world)
    await approve(world, request_id)
    await world.wait_for_status(request_id, Status.ACTIVE, timeout=40)
    assert fault.hits == 1


async def test_a_batch_account_whose_write_fails_leaves_the_others_granted_and_reported(
    world: Sandbox, aws_faults: AwsFaultProxy
) -> None:
    """DynamoDB refuses one account's approval write: the other account is still approved
    and granted, the card and the summary show both as stored (one still waiting), and the
    refused one can be approved again."""
    resources = ["acme-development-exports", "acme-production-exports"]
    requests = await batch_of(world, also_accounts=["production"], resources=resources)
    bob_card = await card(world, BOB, requests[0].id)
    aws_faults.inject("access_denied", "dynamodb", "TransactWriteItems", times=1)

    await world.click(BOB, bob_card, batch_views.APPROVE_BATCH_ACTION)

    summary = await world.emulator.wait_for_message(
        REQUESTER, lambda m: f"over {len(requests)} accounts" in m.text
    )
    statuses = {r.account_name: (await stored(world).get(r.id)) for r in requests}
    granted = [n for n, r in statuses.items() if r is not None and r.status is Status.ACTIVE]
    waiting = [n for n, r in statuses.items() if r is not None and r.status is Status.PENDING]
    assert len(granted) == 1 and len(waiting) == 1, statuses
    assert f"{granted[0]}: access granted" in summary.text
    assert f"{waiting[0]}: 0 of 1 approvals" in summary.text
    await world.click(BOB, await card(world, BOB, requests[0].id), batch_views.APPROVE_BATCH_ACTION)
    for request in requests:
        await world.wait_for_status(request.id, Status.ACTIVE)
