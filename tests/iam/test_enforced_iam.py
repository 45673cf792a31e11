"""The bot's own permissions, enforced: with moto's IAM authorization on, the bot running as its
ECS task role with exactly the Terraform module's policies (terraform/policies/) completes
discovery, grant, revoke, expiry and reconcile in each access mode. A permission missing from a
template fails these tests, naming the denied action."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from cloud_access_bot.aws.discovery import DISCOVERERS
from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.aws.managed_granter import ManagedPolicyGranter
from cloud_access_bot.aws.reconcile import reconcile
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess, Status
from cloud_access_bot.ports import Granter
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, ManualClock, Sandbox
from tests.factories import access_request
from tests.iam.iam_world import (
    INLINE,
    LOGIN_ROLE,
    MANAGED,
    REGION,
    SESSION,
    Operator,
    bot_role,
    broker_role,
)
from tests.iam.moto_iam import DENIALS

BOB = APPROVERS[0]


def denied() -> str:
    return "; ".join(str(d) for d in DENIALS) or "nothing"


async def reach(world: Sandbox, request_id: str, *statuses: Status) -> AccessRequest:
    """The request once it reached one of ``statuses``; else why not, and what AWS denied."""
    try:
        return await world.wait_for_status(request_id, *statuses, timeout=10)
    except (AssertionError, TimeoutError):
        store = world.runtime.store
        current = await store.get(request_id)
        last = (await store.events(request_id))[-1]
        raise AssertionError(
            f"{request_id} is {current and current.status}, not {statuses} "
            f"(last event {last.type}: {last.details}); AWS denied: {denied()}"
        ) from None


async def discover_everything(world: Sandbox, account: str) -> set[str]:
    """Every discovery unit in ``account``; fails on any failure. The names found."""
    result = await world.runtime.discovery.discover(
        [(account, bot_role(account))], [REGION], sorted(DISCOVERERS), refresh=True
    )
    assert not result.failures, f"{[f.message for f in result.failures]}; AWS denied: {denied()}"
    return {r.name for r in result.resources}


async def approved(world: Sandbox, account_name: str, account: str) -> AccessRequest:
    """A new request through the modal (its resource picked by discovery), approved by Bob."""
    store = world.runtime.store
    before = {r.id for r in await store.for_user(REQUESTER, limit=10)}
    ack = await world.request(
        account=account_name, resources=[f"acme-{account}-exports"], actions=["s3:GetObject"]
    )
    assert ack.get("response_action") != "errors", ack

    async def stored() -> AccessRequest | None:
        found = await store.for_user(REQUESTER, limit=1)
        return found[0] if found and found[0].id not in before else None

    request = await world.wait_for(stored, "the new request")
    await world.click(BOB, await world.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    return await reach(world, request.id, Status.ACTIVE)


async def two_grants(
    world: Sandbox, account_name: str, account: str
) -> tuple[AccessRequest, AccessRequest]:
    """Discovery lists the account's bucket; two requests for it are approved and granted."""
    assert f"acme-{account}-exports" in await discover_everything(world, account)
    return await approved(world, account_name, account), await approved(
        world, account_name, account
    )


async def revoke_one_expire_other(
    world: Sandbox, clock: ManualClock, *, revoked: AccessRequest, expired: AccessRequest
) -> None:
    """The requester revokes one grant; the sweeper expires the other when its window ends."""
    await world.runtime.service.revoke(revoked.id, REQUESTER)
    await reach(world, revoked.id, Status.REVOKED)
    clock.advance(minutes=2)
    await reach(world, expired.id, Status.EXPIRED)


def orphan(account: str, clock: ManualClock) -> tuple[AccessRequest, Any, Any]:
    """A grant no request accounts for (a crash, a hand-edited record): what reconcile removes."""
    now = clock()
    request = access_request(
        id="deadbeef0000",
        requester_id="U0GONE",
        requester_email="gone@example.com",
        account_name="?",
        account_id=account,
        login_role=LOGIN_ROLE,
        reason="left behind",
        services=(
            ServiceAccess("s3", ("s3:GetObject",), (f"arn:aws:s3:::acme-{account}-exports",)),
        ),
        created_at=now,
    )
    return request, now, now + timedelta(hours=1)


async def reconciled(
    world: Sandbox, granter: Granter, account_name: str, clock: ManualClock
) -> None:
    """Plant an orphaned grant with the bot's own granter; reconcile removes it, error-free."""
    config = world.config
    account = config.accounts[account_name]
    request, start, end = orphan(account.account_number, clock)
    await granter.grant(request, account, start, end)
    report = await reconcile(world.clients, config, world.runtime.store, now=clock())
    assert report.errors == [], f"{report.errors}; AWS denied: {denied()}"
    assert {r.request_id for r in report.removed} <= {request.id}


async def login_role_policies(operator: Operator, account: str) -> dict[str, Any]:
    async with operator.client("iam", account) as iam:
        names = (await iam.list_role_policies(RoleName=LOGIN_ROLE))["PolicyNames"]
        return {n: (await iam.get_role_policy(RoleName=LOGIN_ROLE, PolicyName=n)) for n in names}


async def grants_policy_sids(operator: Operator, account: str) -> set[str]:
    arn = f"arn:aws:iam::{account}:policy/cloud-access-bot/cloud-access-bot-grants"
    async with operator.client("iam", account) as iam:
        version = (await iam.get_policy(PolicyArn=arn))["Policy"]["DefaultVersionId"]
        answer = await iam.get_policy_version(PolicyArn=arn, VersionId=version)
    document = answer["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    return {s.get("Sid", "") for s in document["Statement"]}


@pytest.mark.parametrize("targets", [(INLINE,)])
async def test_inline_policy_mode_runs_on_the_modules_permissions(
    world: Sandbox, clock: ManualClock, operator: Operator
) -> None:
    first, second = await two_grants(world, "inline", INLINE)
    assert set(await login_role_policies(operator, INLINE)) == {
        first.policy_name,
        second.policy_name,
    }
    # A multi-account request's card reads its requests at once (BatchGetItem).
    both = await world.runtime.store.get_many([second.id, first.id])
    assert [r.id for r in both] == [second.id, first.id], denied()

    await revoke_one_expire_other(world, clock, revoked=second, expired=first)
    assert await login_role_policies(operator, INLINE) == {}

    granter = InlinePolicyGranter(world.clients, world.config.policy_name_prefix)
    await reconciled(world, granter, "inline", clock)
    assert await login_role_policies(operator, INLINE) == {}
    assert not DENIALS, denied()


@pytest.mark.parametrize("targets", [(MANAGED,)])
async def test_managed_policy_mode_runs_on_the_modules_permissions(
    world: Sandbox, clock: ManualClock, operator: Operator
) -> None:
    first, second = await two_grants(world, "managed", MANAGED)
    sids = await grants_policy_sids(operator, MANAGED)
    assert any(first.id in sid for sid in sids) and any(second.id in sid for sid in sids), sids

    await revoke_one_expire_other(world, clock, revoked=second, expired=first)
    assert await grants_policy_sids(operator, MANAGED) == {"NoActiveGrants"}

    await reconciled(world, ManagedPolicyGranter(world.clients), "managed", clock)
    assert await grants_policy_sids(operator, MANAGED) == {"NoActiveGrants"}
    # The granter first tries the login role as an IAM role name; IAM refuses a permission
    # set's name (outside AWSReservedSSO_<name>_*) and the granter looks it up by ListRoles.
    probe = f"arn:aws:sts::{MANAGED}:assumed-role/cloud-access-bot/cloud-access-bot"
    assert {str(d) for d in DENIALS} <= {f"{probe} was denied iam:GetRole on *"}, denied()


@pytest.mark.parametrize("targets", [(SESSION,)])
async def test_session_credentials_mode_runs_on_the_modules_permissions(
    world: Sandbox, clock: ManualClock
) -> None:
    first, second = await two_grants(world, "session", SESSION)
    await world.emulator.wait_for_message(REQUESTER, lambda m: "Open the AWS console" in m.text)

    await revoke_one_expire_other(world, clock, revoked=second, expired=first)

    report = await reconcile(world.clients, world.config, world.runtime.store, now=clock())
    assert report.errors == [] and report.removed == []
    assert not DENIALS, denied()


# -- cutting off a revoked session (revoke_cuts_off_session) ---------------------------------

REVOKED_DENY = "cloud-access-bot-revoked-"


async def broker_policies(operator: Operator) -> list[str]:
    async with operator.client("iam", SESSION) as iam:
        answer = await iam.list_role_policies(RoleName="cloud-access-bot-broker")
    return [n for n in answer["PolicyNames"] if n.startswith(REVOKED_DENY)]


async def revoked(world: Sandbox) -> AccessRequest:
    """One session grant, approved, then revoked by its requester."""
    grant = await approved(world, "session", SESSION)
    await world.runtime.service.revoke(grant.id, REQUESTER)
    return await reach(world, grant.id, Status.REVOKED)


@pytest.mark.parametrize(("targets", "cut_off"), [((SESSION,), (True, True))])
async def test_a_revoke_cuts_off_the_session_on_the_modules_cut_off_permissions(
    world: Sandbox, operator: Operator
) -> None:
    ended = await revoked(world)

    assert ended.session_cut_off is True
    assert await broker_policies(operator) == [f"{REVOKED_DENY}{ended.id}"]
    assert not DENIALS, denied()


@pytest.mark.parametrize(("targets", "cut_off"), [((SESSION,), (False, True))])
async def test_without_the_modules_cut_off_the_revoke_is_denied_on_the_broker_and_says_so(
    world: Sandbox, operator: Operator
) -> None:
    ended = await revoked(world)

    assert ended.session_cut_off is False
    assert await broker_policies(operator) == []
    on_broker = {d.action for d in DENIALS if d.resource == broker_role(SESSION)}
    assert {"iam:ListRolePolicies", "iam:GetRole"} <= on_broker, denied()
    await world.emulator.wait_for_message(
        REQUESTER, lambda m: ended.id in m.flat_text and "was not cut off" in m.flat_text
    )
