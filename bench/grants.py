"""Granting: approve click → ACTIVE, sustained approvals, and how many grants one role holds.

"ACTIVE" is read from the audit trail: the GRANTED event is stamped by the store when the
request becomes ACTIVE, right after the granter wrote the policy, so a click's latency is
GRANTED time − the moment the emulator sent the click (both wall clock, same machine).
"""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from bench.report import Metric, rounded
from bench.slack_load import APPROVER
from bench.world import (
    DURATION_MINUTES,
    TYPICAL_ACTIONS,
    TYPICAL_SERVICE,
    WAIT_S,
    Inbox,
    email,
    granted_count,
)
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.granter import ROLE_INLINE_POLICY_LIMIT, InlinePolicyGranter
from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain import packing
from cloud_access_bot.domain.model import AccessRequest, EventType, ServiceAccess, utcnow
from cloud_access_bot.domain.policy import build_grant_policy, policy_size
from cloud_access_bot.service import Draft
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import seed_account
from cloud_access_bot_sandbox.capacity import fill_role
from cloud_access_bot_sandbox.scenario import LOGIN_ROLE, Sandbox

SHARED_ACCOUNT_ID = "444444444444"
#: More requests than any role can hold, so fill_role always reaches CapacityExceeded.
FILL_ATTEMPTS = 2000


def typical_access(buckets: Sequence[str]) -> ServiceAccess:
    return ServiceAccess(
        TYPICAL_SERVICE, TYPICAL_ACTIONS, tuple(f"arn:aws:s3:::{b}" for b in buckets[:2])
    )


async def submit_pending(
    world: Sandbox, users: Sequence[str], roles: Sequence[str], concurrency: int
) -> dict[str, str]:
    """PENDING requests (user → request id) through the service, as a modal submission does."""
    gate = asyncio.Semaphore(concurrency)
    accounts = sorted(world.accounts)
    found: dict[str, str] = {}

    async def one(index: int, user: str) -> None:
        account = accounts[index % len(accounts)]
        draft = Draft(
            requester_id=user,
            account_name=account,
            login_role=roles[index % len(roles)],
            reason="Benchmark: investigate a failed export",
            duration_minutes=DURATION_MINUTES,
            services=(typical_access(world.accounts[account].buckets),),
        )
        async with gate:
            result = await world.runtime.service.submit(draft)
        if result.request is None:
            raise RuntimeError(f"submit refused for {user}: {result.errors}")
        found[user] = result.request.id

    await asyncio.gather(*(one(i, user) for i, user in enumerate(users)))
    return found


async def granted_at(world: Sandbox, request_id: str) -> datetime:
    events = await world.runtime.store.events(request_id)
    granted = [e.at for e in events if e.type is EventType.GRANTED]
    if not granted:
        failed = [e.details for e in events if e.type is EventType.GRANT_FAILED]
        raise RuntimeError(f"request {request_id} was not granted: {failed}")
    return granted[0]


async def approve_to_active(
    world: Sandbox, users: Sequence[str], roles: Sequence[str]
) -> list[float]:
    """One approval at a time in an otherwise idle bot: click → ACTIVE, in ms."""
    approvals = Inbox(world.emulator, APPROVER, views.APPROVE_ACTION)
    latencies = []
    for user, request_id in (await submit_pending(world, users, roles, 1)).items():
        dm = await approvals.wait(request_id)
        clicked = utcnow()
        await world.click(APPROVER, dm, views.APPROVE_ACTION)
        await world.emulator.wait_for_message(user, lambda m: "Access granted" in m.text, WAIT_S)
        latencies.append((await granted_at(world, request_id) - clicked).total_seconds() * 1000)
    return latencies


async def grants_per_second(world: Sandbox, users: Sequence[str], roles: Sequence[str]) -> float:
    """All approval clicks at once; grants finished per second from the first click."""
    pending = await submit_pending(world, users, roles, 10)
    approvals = Inbox(world.emulator, APPROVER, views.APPROVE_ACTION)
    messages = [await approvals.wait(request_id) for request_id in pending.values()]
    started = utcnow()
    await asyncio.gather(*(world.click(APPROVER, m, views.APPROVE_ACTION) for m in messages))
    await world.emulator.wait_until(
        lambda: granted_count(world.emulator, users) >= len(users), WAIT_S, "every grant"
    )
    finished = max([await granted_at(world, request_id) for request_id in pending.values()])
    return len(users) / (finished - started).total_seconds()


def shared_requests(role: str, count: int) -> list[AccessRequest]:
    """Typical grants by different people on one login role."""
    now = utcnow()
    access = typical_access(("acme-data-exports", "acme-data-logs"))
    return [
        AccessRequest(
            id=uuid.uuid4().hex[:12],
            requester_id=f"UB{index:05d}",
            requester_email=email(index),
            account_name="shared",
            account_id=SHARED_ACCOUNT_ID,
            login_role=role,
            reason="Benchmark",
            duration_minutes=DURATION_MINUTES,
            services=(access,),
            created_at=now,
        )
        for index in range(count)
    ]


async def grants_per_shared_role(prefix: str, overflow: bool) -> tuple[int, int]:
    """(the app's figure, one inline policy per grant): concurrent typical grants one login role
    holds, both by the app's own size accounting. Without ``overflow`` the app may use the
    role's inline budget only (a quicker fill, for the smoke run)."""
    clients = AwsClients(region="eu-west-1")
    try:
        seeded = await seed_account(
            clients,
            name="shared",
            account_id=SHARED_ACCOUNT_ID,
            login_role=LOGIN_ROLE,
            buckets=(),
            tables=(),
        )
        account = AccountConfig.model_validate(
            {"account_number": SHARED_ACCOUNT_ID, "iam_role": seeded.bot_role_arn}
        )
        async with clients.assumed("iam", seeded.bot_role_arn) as iam:
            role_id = (await iam.get_role(RoleName=LOGIN_ROLE))["Role"]["RoleId"]
        requests = shared_requests(LOGIN_ROLE, FILL_ATTEMPTS)
        start = utcnow().replace(microsecond=0)
        end = start + timedelta(minutes=DURATION_MINUTES)
        one = requests[0]
        alone = build_grant_policy(
            one.services,
            userid=f"{role_id}:{one.requester_email}",
            not_before=start,
            not_after=end,
            sid=one.id,
        )
        baseline = ROLE_INLINE_POLICY_LIMIT // policy_size(alone)
        quota = packing.ATTACHED_POLICIES_PER_ROLE if overflow else 0
        granter = InlinePolicyGranter(clients, prefix, attached_policy_quota=quota)
        held = await fill_role(granter, account, requests, start, end)
        return held, baseline
    finally:
        await clients.close()


async def measure_in_world(
    world: Sandbox,
    users: Sequence[str],
    roles: Sequence[str],
    *,
    sequential: int,
    concurrent: int,
) -> list[Metric]:
    """approve_to_active_p50_ms and grants_per_second, with users not used before."""
    latencies = await approve_to_active(world, users[:sequential], roles)
    rate = await grants_per_second(world, users[sequential : sequential + concurrent], roles)
    return [
        Metric(
            "approve_to_active_p50_ms", rounded(statistics.median(latencies)), "ms", target="report"
        ),
        Metric("grants_per_second", rounded(rate), "grants/s", target="report"),
    ]


async def measure_shared_role(prefix: str, *, overflow: bool) -> list[Metric]:
    held, baseline = await grants_per_shared_role(prefix, overflow)
    return [
        Metric(
            "grants_per_shared_role",
            held,
            "grants",
            baseline=baseline,
            target="≥ 5× baseline",
        )
    ]
