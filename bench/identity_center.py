"""IAM Identity Center: approve → assignment SUCCEEDED with a slow Identity Center, and how many
concurrent grants one account holds with a permission set per request versus a shared role.

- ``approve_to_assigned_p50_ms`` / ``_p99_ms``: the bot (in this process, as the ``grants``
  group runs it) reaches moto through the fault proxy, which holds every sso-admin call for
  ``delay_s``, as a provisioning Identity Center answers slowly. One approval at a time in
  ``permission_set`` mode; click → GRANTED, which the bot records once the assignment's
  creation status is SUCCEEDED.
- ``grants_per_account_request_permission_set``: typical grants in one account, each its own
  ``CAB-`` permission set (all for one Identity Center user: a set is per request anyway),
  until the instance's quota (``identity_center.permission_set_quota``, set to ``quota``
  here so the fill ends) refuses one. Nothing is shared per account, so what fits is the
  quota minus the instance's other sets. The baseline is the inline mode's typical grants on
  one shared login role (``grants_per_shared_role``, computed here the same way).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.grants import granted_at, grants_per_shared_role, shared_requests
from bench.report import Metric, rounded
from bench.world import DURATION_MINUTES, WAIT_S, add_users, email
from cloud_access_bot.aws.identity_center import AssignmentLedger, IdentityCenter
from cloud_access_bot.aws.identity_center_granters import RequestPermissionSetGranter
from cloud_access_bot.domain.model import Status, utcnow
from cloud_access_bot.service import Draft
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.capacity import fill_role
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.identity_center import identity_center_config, seed_identity_center
from cloud_access_bot_sandbox.scenario import APPROVERS, Sandbox, sandbox

if TYPE_CHECKING:
    from bench.runner import Scale

APPROVER = APPROVERS[0]
PERMISSION_SET = "ReadOnlyAccess"
DURATION = timedelta(minutes=DURATION_MINUTES)


@asynccontextmanager
async def proxied() -> AsyncIterator[AwsFaultProxy]:
    """The fault proxy in front of moto; AWS clients built inside reach moto through it."""
    upstream = os.environ["AWS_ENDPOINT_URL"]
    proxy = AwsFaultProxy(upstream)
    await proxy.start()
    os.environ["AWS_ENDPOINT_URL"] = proxy.endpoint
    try:
        yield proxy
    finally:
        os.environ["AWS_ENDPOINT_URL"] = upstream
        await proxy.stop()


@asynccontextmanager
async def identity_center_world(people: int) -> AsyncIterator[tuple[Sandbox, list[str]]]:
    """The sandbox with production assigning ReadOnlyAccess to ``people`` Slack users, each
    with an Identity Center user of the same email, and development making permission sets."""
    async with sandbox(start=False) as world:
        users = add_users(world.emulator, people)
        seeded = await seed_identity_center(
            world.clients,
            users={f"user{index}": email(index) for index in range(people)},
            permission_sets={PERMISSION_SET: "Read everything"},
        )
        world.config = identity_center_config(seeded.config, [PERMISSION_SET])
        await world.start_bot()
        yield world, users


async def approve_to_assigned_ms(
    world: Sandbox, users: Sequence[str], proxy: AwsFaultProxy, delay_s: float
) -> list[float]:
    """One approval at a time, every sso-admin call held ``delay_s``: click → GRANTED, in ms."""
    latencies = []
    proxy.inject("delay", "sso", seconds=delay_s, times=None)
    try:
        for user in users:
            draft = Draft(
                requester_id=user,
                account_name="production",
                login_role=PERMISSION_SET,
                reason="Benchmark: check the dashboards",
                duration_minutes=DURATION_MINUTES,
                services=(),
                permission_set=PERMISSION_SET,
            )
            submitted = await world.runtime.service.submit(draft)
            if submitted.request is None:
                raise RuntimeError(f"submit refused for {user}: {submitted.errors}")
            request_id = submitted.request.id
            dm = await world.approval_dm(APPROVER, request_id)
            clicked = utcnow()
            await world.click(APPROVER, dm, views.APPROVE_ACTION)
            await world.wait_for_status(request_id, Status.ACTIVE, Status.FAILED, timeout=WAIT_S)
            granted = await granted_at(world, request_id)
            latencies.append((granted - clicked).total_seconds() * 1000)
    finally:
        proxy.clear()
    return latencies


async def grants_per_account(world: Sandbox, quota: int) -> int:
    """Typical grants in the request_permission_set account, each its own permission set,
    until the instance's ``quota`` refuses one."""
    settings = world.config.identity_center
    assert settings is not None
    center = settings.model_copy(update={"permission_set_quota": quota})
    account = world.config.account("development")
    assert account is not None
    granter = RequestPermissionSetGranter(
        IdentityCenter(world.clients),
        AssignmentLedger(world.clients, world.config.dynamodb_table),
        lambda: center,
    )
    requests = [
        r.with_changes(requester_email=email(0), account_id=account.account_number)
        for r in shared_requests("", quota + 1)
    ]
    start = utcnow().replace(microsecond=0)
    return await fill_role(granter, account, requests, start, start + DURATION)


async def measure(count: int, delay_s: float, quota: int, *, overflow: bool) -> list[Metric]:
    async with proxied() as proxy, identity_center_world(count) as (world, users):
        latencies = sorted(await approve_to_assigned_ms(world, users, proxy, delay_s))
        held = await grants_per_account(world, quota)
    inline, _ = await grants_per_shared_role("cloud-access-bot-", overflow)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    note = f"every sso-admin call delayed {delay_s * 1000:.0f} ms; {count} approvals"
    return [
        Metric(
            "approve_to_assigned_p50_ms",
            rounded(statistics.median(latencies)),
            "ms",
            target="report",
            note=note,
        ),
        Metric("approve_to_assigned_p99_ms", rounded(p99), "ms", target="report", note=note),
        Metric(
            "grants_per_account_request_permission_set",
            held,
            "grants",
            baseline=inline,
            target="the instance quota",
            note=(
                f"filled to a quota of {quota} permission sets, 1 of them not the bot's "
                "(the default quota is 2000); baseline: grants_per_shared_role"
            ),
        ),
    ]


#: The simulated provisioning delay on every sso-admin call.
SSO_DELAY_S = 0.2


async def group(scale: Scale, facts: dict[str, Any]) -> list[Metric]:
    """The runner's ``identity_center`` group: as many approvals as the ``grants`` group's
    sequential ones, and a quota five times that."""
    count = scale.sequential_approvals
    return await measure(count, SSO_DELAY_S, quota=5 * count, overflow=scale.overflow)
