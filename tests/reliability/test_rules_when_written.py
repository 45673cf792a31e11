"""The rules in force when the grant is written, not only at the click: an approval IAM could
not take yet is finished by the sweeper under the config as it is by then."""

from __future__ import annotations

from cloud_access_bot.domain.model import Status, iso
from cloud_access_bot.service import STUCK_APPROVAL
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import REQUESTER, ManualClock, Sandbox, sandbox_config
from tests.reliability.reliability_kit import BOB, stored, submit


async def approved_but_not_written(world: Sandbox, aws_faults: AwsFaultProxy) -> str:
    """A 15-minute request approved while IAM refuses every write (APPROVED, nothing in IAM)."""
    aws_faults.inject("server_error", "iam", "PutRolePolicy", times=None)
    request_id = await submit(world, duration=15)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.emulator.wait_for_message(BOB, lambda m: "not in place yet" in m.text, timeout=60)
    assert (await stored(world).get(request_id)).status is Status.APPROVED  # type: ignore[union-attr]
    return request_id


async def test_an_action_forbidden_before_the_grant_is_written_fails_the_request(
    world: Sandbox, aws_faults: AwsFaultProxy, clock: ManualClock
) -> None:
    request_id = await approved_but_not_written(world, aws_faults)
    world.config = sandbox_config(never_grantable_actions=["iam:*", "s3:GetObject"])
    aws_faults.clear()

    clock.advance(seconds=STUCK_APPROVAL.total_seconds() + 1)

    failed = await world.wait_for_status(request_id, Status.FAILED)
    assert "s3:GetObject is never grantable" in (failed.failure_reason or "")
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_a_maximum_lowered_before_the_grant_is_written_caps_it(
    world: Sandbox, aws_faults: AwsFaultProxy, clock: ManualClock
) -> None:
    request_id = await approved_but_not_written(world, aws_faults)
    world.config = sandbox_config(durations_minutes=[1], max_duration_minutes=1)
    aws_faults.clear()

    clock.advance(seconds=STUCK_APPROVAL.total_seconds() + 1)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.starts_at and active.expires_at
    assert (active.expires_at - active.starts_at).total_seconds() == 60
    await world.emulator.wait_for_message(REQUESTER, lambda m: "is now 1 minute," in m.text)
    document = (await inline_policies(world.clients, world.accounts["development"]))[
        active.policy_name or ""
    ]
    for statement in document["Statement"]:
        assert statement["Condition"]["DateLessThan"]["aws:CurrentTime"] == iso(active.expires_at)


async def test_a_requester_no_longer_eligible_when_the_grant_is_written_is_refused(
    world: Sandbox, aws_faults: AwsFaultProxy, clock: ManualClock
) -> None:
    request_id = await approved_but_not_written(world, aws_faults)
    world.config = sandbox_config(
        rules=[
            {"match": {"name": "development"}, "set": {"eligibility": {"user_groups": ["devops"]}}}
        ]
    )
    aws_faults.clear()

    clock.advance(seconds=STUCK_APPROVAL.total_seconds() + 1)

    failed = await world.wait_for_status(request_id, Status.FAILED)
    assert "may no longer request access to development" in (failed.failure_reason or "")
    told = await world.emulator.wait_for_message(
        REQUESTER, lambda m: "may no longer request access" in m.flat_text
    )
    assert "Only members of devops may request access to this account." in told.flat_text
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
