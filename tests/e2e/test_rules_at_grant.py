"""The rules in force at the click: config reloaded between submit and approval, timeouts,
and privilege escalation, through the emulator and moto."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cloud_access_bot.audit.verify import verify_trail
from cloud_access_bot.domain.model import Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    LOGIN_ROLE,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox_config,
)

BOB, CAROL = APPROVERS


def configure(world: Sandbox, **overrides: Any) -> None:
    """Reload the running bot's configuration (it reads it live, like an S3 config change)."""
    world.config = sandbox_config(**overrides)


async def pending(world: Sandbox, **request: Any) -> str:
    bucket = world.accounts["development"].buckets[0]
    ack = await world.request(**{"resources": [bucket], **request})
    assert ack.get("response_action") != "errors", ack
    return (await world.latest_request()).id


async def status_of(world: Sandbox, request_id: str) -> Status:
    stored = await world.runtime.store.get(request_id)
    assert stored is not None
    return stored.status


async def test_an_action_made_never_grantable_after_submit_is_not_granted(
    world: Sandbox,
) -> None:
    request_id = await pending(world)
    dm = await world.approval_dm(BOB, request_id)
    configure(world, never_grantable_actions=["iam:*", "s3:GetObject"])

    await world.click(BOB, dm, views.APPROVE_ACTION)

    told = await world.emulator.wait_for_message(BOB, lambda m: "current rules" in m.text)
    assert "s3:GetObject is never grantable" in told.text
    await world.emulator.wait_for_message(REQUESTER, lambda m: "current rules" in m.text)
    assert await status_of(world, request_id) is Status.PENDING
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_a_login_role_removed_after_submit_is_not_granted(world: Sandbox) -> None:
    request_id = await pending(world)
    dm = await world.approval_dm(BOB, request_id)
    configure(world, loginRoles=["SomethingElse"])

    await world.click(BOB, dm, views.APPROVE_ACTION)

    await world.emulator.wait_for_message(
        BOB, lambda m: f"Login role {LOGIN_ROLE} is no longer configured" in m.text
    )
    assert await status_of(world, request_id) is Status.PENDING
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_a_lower_maximum_caps_the_grant_and_says_so(world: Sandbox) -> None:
    request_id = await pending(world, duration=60)
    dm = await world.approval_dm(BOB, request_id)
    configure(world, max_duration_minutes=15, durations_minutes=[1, 15])

    await world.click(BOB, dm, views.APPROVE_ACTION)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.starts_at and active.expires_at
    assert (active.expires_at - active.starts_at).total_seconds() == 15 * 60
    for person in (BOB, REQUESTER):
        told = await world.emulator.wait_for_message(
            person, lambda m: "is now 15 minutes" in m.text
        )
        assert "instead of the 60 minutes asked for" in told.text
    document = (await inline_policies(world.clients, world.accounts["development"]))[
        active.policy_name or ""
    ]
    for statement in document["Statement"]:
        assert statement["Condition"]["DateLessThan"][
            "aws:CurrentTime"
        ] == active.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    await assert_trail_verifies(world)


async def assert_trail_verifies(world: Sandbox) -> None:
    """``audit verify`` finds every stored request as the chain sealed it: the bot's own
    changes (a capped duration among them) are never reported as edits."""
    now = world.clock() + timedelta(minutes=1)
    report = await verify_trail(
        world.store, since=None, until=now, now=now, retention=timedelta(days=365)
    )
    assert report.ok, report.lines()


async def test_an_approval_after_the_pending_timeout_is_refused_before_the_sweeper_runs(
    world: Sandbox, clock: ManualClock
) -> None:
    await world.stop_bot()
    world.runtime_options = {"sweep_interval": 3600}  # the sweeper stays asleep
    configure(world, pending_timeout_minutes=30)
    await world.start_bot()
    request_id = await pending(world)
    dm = await world.approval_dm(BOB, request_id)
    clock.advance(minutes=31)

    await world.click(BOB, dm, views.APPROVE_ACTION)

    await world.emulator.wait_for_message(BOB, lambda m: "timed out" in m.text)
    await world.wait_for_status(request_id, Status.TIMED_OUT)
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_escalation_is_refused_by_default_and_marked_in_the_modal(world: Sandbox) -> None:
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()
    await modal.suggest(views.SERVICE_ACTION, "lambda")
    await modal.select(views.SERVICE_ACTION, "lambda")
    await modal.wait_updated()
    answer = await modal.suggest(views.ACTIONS_ACTION, "UpdateFunctionCode")
    options = {o["value"]: o for g in answer["option_groups"] for o in g["options"]}
    marked = options["lambda:UpdateFunctionCode"]
    assert marked["text"]["text"].startswith("⚠")
    assert marked["description"]["text"] == "⚠ privilege escalation"
    assert not options["lambda:UpdateFunctionCodeSigningConfig"]["text"]["text"].startswith("⚠")
    await modal.close()

    ack = await world.request(
        service="lambda",
        actions=["lambda:UpdateFunctionCode"],
        arns=["arn:aws:lambda:eu-west-1:111111111111:function:exporter"],
    )

    assert ack["response_action"] == "errors"
    message = " ".join(ack["errors"].values())
    assert "escalate privileges" in message and "allow_escalation" in message
    assert await world.runtime.store.for_user(REQUESTER) == []


async def test_allowed_escalation_needs_two_people_and_is_never_auto_approved(
    world: Sandbox,
) -> None:
    accounts = sandbox_config().model_dump(mode="json")["accounts"]
    accounts["development"]["allow_escalation"] = True
    everything = ["List", "Read", "Write"]
    configure(world, accounts=accounts, auto_approve=[{"access_levels": everything}])

    request_id = await pending(
        world,
        service="lambda",
        actions=["lambda:UpdateFunctionCode"],
        resources=[],
        arns=["arn:aws:lambda:eu-west-1:111111111111:function:exporter"],
    )

    stored = await world.runtime.store.get(request_id)
    assert stored is not None and stored.status is Status.PENDING
    assert stored.approvals_required == 2
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)

    async def approvals() -> tuple[str, ...]:
        stored = await world.runtime.store.get(request_id)
        return stored.approvals if stored else ()

    assert await world.wait_for(approvals, "Bob's approval recorded") == (BOB,)
    assert await status_of(world, request_id) is Status.PENDING
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


async def test_source_identity_binding_is_in_the_policy_written(world: Sandbox) -> None:
    accounts = sandbox_config().model_dump(mode="json")["accounts"]
    accounts["development"]["bind"] = "source_identity"
    configure(world, accounts=accounts)
    request_id = await pending(world)

    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)

    active = await world.wait_for_status(request_id, Status.ACTIVE)
    document = (await inline_policies(world.clients, world.accounts["development"]))[
        active.policy_name or ""
    ]
    for statement in document["Statement"]:
        who = statement["Condition"]["StringEqualsIgnoreCase"]
        assert who["aws:SourceIdentity"] == "alice@example.com"
        assert who["aws:userid"].endswith(":alice@example.com")
