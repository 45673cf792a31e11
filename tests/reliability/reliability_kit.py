"""Shared steps and checks of the reliability tests: a full flow, the consistency audit, figures.

The figures (envelopes, faults, fuzzed inputs, requests audited, lost requests, duplicate
grants) are summed over the run in tests/summary.py and printed at the end.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from cloud_access_bot.audit.verify import verify_trail
from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, LOGIN_ROLE, REQUESTER, Sandbox
from tests.summary import FIGURES

BOB, CAROL = APPROVERS


async def submit(world: Sandbox, user: str = REQUESTER, **kwargs: Any) -> str:
    """Fill and submit the modal (for the first bucket unless told otherwise); the id of the
    PENDING request it stored."""
    if "resources" not in kwargs and "arns" not in kwargs:
        kwargs["resources"] = [world.accounts["development"].buckets[0]]
    request = await world.submit(user=user, **kwargs)
    assert request.status is Status.PENDING
    return request.id


async def full_flow(world: Sandbox, approver: str = BOB, **kwargs: Any) -> str:
    """/request → Approve → ACTIVE with a policy in IAM; the request id."""
    request_id = await submit(world, **kwargs)
    dm = await world.approval_dm(approver, request_id)
    await world.click(approver, dm, views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)
    return request_id


async def crash(world: Sandbox) -> None:
    """Kill the running bot where it stands: nothing in flight is awaited or finished (work
    frozen by a :class:`~cloud_access_bot_sandbox.faults.Freeze` never resumes)."""
    runtime = world.runtime
    await runtime.stop(grace=0, close_clients=False)
    world.runtimes.remove(runtime)


def stored(world: Sandbox) -> DynamoStore:
    """The request table, read without a running bot."""
    return DynamoStore(world.clients, world.config.dynamodb_table)


DECADE = timedelta(days=3650)


async def audit(world: Sandbox) -> list[str]:
    """Problems between DynamoDB and IAM: a grant without an ACTIVE record, an ACTIVE record
    without its grant, a request granted twice; and every finding of ``audit verify`` (a
    write of the bot's that its audit chain does not seal). Counted into FIGURES."""
    store = stored(world)
    requests = {r.id: r for r in await store.all_requests()}
    granter = InlinePolicyGranter(world.clients, world.config.policy_name_prefix)
    grants: Counter[str] = Counter()
    for account in world.config.accounts.values():
        grants.update(g.request_id for g in await granter.find_grants(account, LOGIN_ROLE))
    problems = []
    for request_id, count in grants.items():
        request = requests.get(request_id)
        if request is None:
            problems.append(f"grant {request_id} in IAM has no request record")
            FIGURES.lost += 1
        elif request.status is not Status.ACTIVE:
            problems.append(f"grant {request_id} in IAM but the request is {request.status}")
        if count > 1:
            problems.append(f"request {request_id} holds {count} grants")
    for request in requests.values():
        if request.status is Status.ACTIVE and not grants[request.id]:
            problems.append(f"{request.id} is ACTIVE without a policy")
        events = Counter(e.type for e in await store.events(request.id))
        if events[EventType.GRANTED] > 1 or grants[request.id] > 1:
            problems.append(f"{request.id} granted {events[EventType.GRANTED]} times")
            FIGURES.duplicate_grants += 1
        if events[EventType.APPROVED] + events[EventType.AUTO_APPROVED] > 1:
            problems.append(f"{request.id} approved {events[EventType.APPROVED]} times")
    FIGURES.requests += len(requests)
    now = world.clock() + timedelta(minutes=1)
    trail = await verify_trail(store, since=None, until=now, now=now, retention=DECADE)
    return problems + [f"{f.request_id}: {f.problem}" for f in trail.findings]
