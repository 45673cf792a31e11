"""Early revoke and extension of an active grant, through the emulator."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cloud_access_bot.config import AccessMode
from cloud_access_bot.domain.model import EventType, Status, iso
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_workspace import Message

BOB, CAROL = APPROVERS


async def active_grant(world: Sandbox, **request: Any) -> str:
    fields = {"resources": [world.accounts["development"].buckets[0]], "duration": 15, **request}
    request_id = (await world.submit(**fields)).id
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)
    return request_id


async def request_extension(world: Sandbox, request_id: str, minutes: str = "60") -> None:
    """The requester asks for ``minutes`` more, from their message's Extend… button."""
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: "Extend" in m.flat_text and request_id in m.flat_text
    )
    await world.click(REQUESTER, mine, views.EXTEND_ACTION)
    modal = await world.emulator.wait_for_view(REQUESTER, views.EXTEND_CALLBACK)
    await modal.select(views.EXTEND_ACTION_SELECT, minutes)
    await modal.submit()


async def ask_extension(
    world: Sandbox, request_id: str, minutes: str = "60", approver: str = BOB
) -> Message:
    """The requester asks for ``minutes`` more; returns the ask ``approver`` receives."""
    await request_extension(world, request_id, minutes)
    return await world.emulator.wait_for_message(approver, lambda m: "extend" in m.text)


def conditions_of(policies: dict[str, dict[str, Any]]) -> list[object]:
    return [s["Condition"] for p in policies.values() for s in p["Statement"]]


async def test_requester_revokes_early(world: Sandbox) -> None:
    request_id = await active_grant(world)
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: "revoke" in m.flat_text and request_id in m.flat_text
    )

    await world.click(REQUESTER, mine, views.REVOKE_ACTION)

    revoked = await world.wait_for_status(request_id, Status.REVOKED)
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
    assert (await world.runtime.store.events(request_id))[-1].actor == REQUESTER
    bob_dm = world.emulator.messages_to(BOB)[0]
    await world.emulator.wait_until(lambda: "Revoked" in bob_dm.flat_text)
    assert revoked.status is Status.REVOKED


async def test_approver_revokes_from_dm(world: Sandbox) -> None:
    request_id = await active_grant(world)
    carol_dm = await world.emulator.wait_for_message(
        CAROL, lambda m: request_id in m.flat_text and "Revoke now" in m.flat_text
    )

    await world.click(CAROL, carol_dm, views.REVOKE_ACTION)

    await world.wait_for_status(request_id, Status.REVOKED)
    assert await inline_policies(world.clients, world.accounts["development"]) == {}
    await world.emulator.wait_for_message(REQUESTER, lambda m: "Revoked" in m.text)


async def test_extension_moves_the_end_in_place(world: Sandbox, clock: ManualClock) -> None:
    account = world.accounts["development"]
    request_id = await active_grant(world)
    before = await world.runtime.store.get(request_id)
    assert before is not None and before.expires_at is not None

    ask = await ask_extension(world, request_id)
    await world.click(BOB, ask, views.APPROVE_EXTENSION_ACTION)

    await world.emulator.wait_for_message(REQUESTER, lambda m: "now lasts until" in m.text)
    extended = await world.wait_for_status(request_id, Status.ACTIVE)
    assert extended.expires_at is not None
    new_end = extended.expires_at
    assert (new_end - before.expires_at).total_seconds() == 3600
    assert extended.duration_minutes == 75
    policies = await inline_policies(world.clients, account)
    assert len(policies) == 1, "extended in place, not a second policy"
    ends = {c["DateLessThan"]["aws:CurrentTime"] for c in conditions_of(policies)}  # type: ignore[index]
    assert ends == {iso(new_end)}

    clock.advance(minutes=16)
    await world.runtime.service.sweep()
    assert (await world.runtime.store.get(request_id)).status is Status.ACTIVE  # type: ignore[union-attr]
    clock.advance(minutes=60)
    await world.wait_for_status(request_id, Status.EXPIRED)
    types = [e.type for e in await world.runtime.store.events(request_id)]
    assert types[-3:] == [EventType.EXTENSION_REQUESTED, EventType.EXTENDED, EventType.EXPIRED]


async def test_reconcile_removes_orphaned_grants_and_keeps_foreign_policies(
    world: Sandbox,
) -> None:
    account = world.accounts["development"]
    request_id = await active_grant(world)
    active = await world.runtime.store.get(request_id)
    assert active is not None
    # The record says the grant ended while IAM still holds it (e.g. a manual edit).
    await world.runtime.store.commit(
        active, active.with_changes(status=Status.REVOKED), EventType.REVOKED, BOB, {}
    )
    foreign = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
    async with world.clients.assumed("iam", account.bot_role_arn) as iam:
        await iam.put_role_policy(
            RoleName=account.login_role, PolicyName="team-read", PolicyDocument=json.dumps(foreign)
        )

    removed = await world.runtime.reconcile()

    assert removed == 1
    assert list(await inline_policies(world.clients, account)) == ["team-read"]
    events = await world.runtime.store.events(request_id)
    assert events[-1].type is EventType.RECONCILED


async def test_grant_of_an_account_removed_from_the_config_is_still_removed(
    world: Sandbox, clock: ManualClock
) -> None:
    account = world.accounts["development"]
    request_id = await active_grant(world)
    remaining = world.config.model_dump(mode="json")["accounts"]
    del remaining["development"]
    world.config = sandbox_config(accounts=remaining)

    clock.advance(minutes=16)
    await world.wait_for_status(request_id, Status.EXPIRED)

    assert await inline_policies(world.clients, account) == {}


async def test_two_replicas_sweeping_at_once_expire_each_grant_once(
    world: Sandbox, clock: ManualClock
) -> None:
    granted = [await active_grant(world) for _ in range(3)]
    first = world.runtime
    second = await world.start_bot()

    clock.advance(minutes=16)
    reports = await asyncio.gather(*(r.service.sweep() for r in (first, second, first, second)))

    assert sum(report.expired for report in reports) <= len(granted)
    for request_id in granted:
        await world.wait_for_status(request_id, Status.EXPIRED)
        types = [e.type for e in await world.runtime.store.events(request_id)]
        assert types.count(EventType.EXPIRED) == 1
    assert await inline_policies(world.clients, world.accounts["development"]) == {}


# -- removal acts on the recorded account (issue 15 item 14) ---------------------------------


def swap_account_names(world: Sandbox) -> None:
    """The config now calls account 222… "development" and 111… "production" (names reused)."""
    accounts = world.config.model_dump(mode="json")["accounts"]
    accounts["development"], accounts["production"] = (
        accounts["production"],
        accounts["development"],
    )
    world.config = sandbox_config(accounts=accounts)


async def test_revoke_after_the_account_name_is_reused_removes_the_approved_grant(
    world: Sandbox,
) -> None:
    granted_in = world.accounts["development"]
    request_id = await active_grant(world)
    assert await inline_policies(world.clients, granted_in) != {}
    swap_account_names(world)
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: "revoke" in m.flat_text and request_id in m.flat_text
    )

    await world.click(REQUESTER, mine, views.REVOKE_ACTION)

    revoked = await world.wait_for_status(request_id, Status.REVOKED)
    assert revoked.account_id == granted_in.account_id
    assert await inline_policies(world.clients, granted_in) == {}, "removed where it was granted"
    [event] = [
        e for e in await world.runtime.store.events(request_id) if e.type is EventType.REVOKED
    ]
    assert event.details["account_id"] == granted_in.account_id


async def test_expiry_after_the_account_name_is_reused_removes_the_approved_grant(
    world: Sandbox, clock: ManualClock
) -> None:
    granted_in = world.accounts["development"]
    request_id = await active_grant(world)
    swap_account_names(world)

    clock.advance(minutes=16)
    await world.runtime.service.sweep()

    await world.wait_for_status(request_id, Status.EXPIRED)
    assert await inline_policies(world.clients, granted_in) == {}


# -- a revoke racing an extension (issue 15 item 15) -----------------------------------------


class ExtendedDuringRevoke:
    """The runtime's own inline-policy granter, except that the first removal waits until an
    approver's extension has been written: the revoke read the request before the extension,
    and writes its end after it (the race, made certain)."""

    def __init__(self, real: Any, extend: Any) -> None:
        self._real = real
        self._extend = extend
        self.raced = False

    async def grant(self, *args: Any) -> Any:
        return await self._real.grant(*args)

    async def revoke(self, request: Any, account: Any) -> bool:
        if not self.raced:
            self.raced = True
            await self._extend()
        result: bool = await self._real.revoke(request, account)
        return result


async def test_a_revoke_racing_an_extension_still_ends_the_grant(world: Sandbox) -> None:
    account = world.accounts["development"]
    request_id = await active_grant(world)
    ask = await ask_extension(world, request_id)

    async def bob_extends() -> None:
        await world.click(BOB, ask, views.APPROVE_EXTENSION_ACTION)

        async def extended() -> bool:
            types = [e.type for e in await world.runtime.store.events(request_id)]
            return EventType.EXTENDED in types

        await world.wait_for(extended, "the extension to be written")

    granters = world.runtime.service._granters  # the race needs a hook between read and write
    racer = ExtendedDuringRevoke(granters[AccessMode.INLINE_POLICY], bob_extends)
    granters[AccessMode.INLINE_POLICY] = racer  # type: ignore[index]
    carol_dm = await world.emulator.wait_for_message(
        CAROL, lambda m: request_id in m.flat_text and "Revoke now" in m.flat_text
    )
    await world.click(CAROL, carol_dm, views.REVOKE_ACTION)

    revoked = await world.wait_for_status(request_id, Status.REVOKED)
    assert racer.raced and revoked.expires_at is not None
    assert await inline_policies(world.clients, account) == {}
    assert not any("already ended" in m.text for m in world.emulator.messages_to(CAROL))
    types = [e.type for e in await world.runtime.store.events(request_id)]
    assert types[-2:] == [EventType.EXTENDED, EventType.REVOKED]
