"""Eligibility is judged again at approval and at grant write, over Socket Mode: a requester
who left the eligible group (or whose account's rules changed) between submitting and the
approver's click is refused, and both people are told why; so is an extension asked for or
approved after the requester lost eligibility."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)
from tests.e2e.test_grant_changes import request_extension

APPROVER = APPROVERS[0]
RULES = [
    {"match": {"name": "development"}, "set": {"eligibility": {"user_groups": ["analysts"]}}},
]
NOT_ELIGIBLE = "may no longer request access to development"


async def submit(world: Sandbox) -> AccessRequest:
    return await world.submit(resources=[world.accounts["development"].buckets[0]])


@pytest.fixture
async def world(aws: str, clock: ManualClock) -> AsyncIterator[Sandbox]:
    async with sandbox(clock=clock, config=sandbox_config(rules=RULES)) as made:
        made.emulator.add_usergroup("analysts", [REQUESTER], name="Analysts")
        yield made
        assert not made.emulator.problems, made.emulator.problems


async def test_a_requester_who_left_the_group_is_refused_at_approval(world: Sandbox) -> None:
    request = await submit(world)
    world.emulator.set_usergroup_members("analysts", [])
    await world.click(APPROVER, await world.approval_dm(APPROVER, request.id), views.APPROVE_ACTION)

    told = await world.emulator.wait_for_message(APPROVER, lambda m: NOT_ELIGIBLE in m.flat_text)
    assert "Only members of analysts may request access to this account." in told.flat_text
    await world.emulator.wait_for_message(REQUESTER, lambda m: NOT_ELIGIBLE in m.flat_text)
    stored = await world.runtime.store.get(request.id)
    assert stored is not None and stored.status is Status.PENDING
    assert not stored.approvals


async def test_a_config_reloaded_between_submit_and_click_is_enforced(world: Sandbox) -> None:
    request = await submit(world)
    world.config = sandbox_config(
        rules=[
            {"match": {"name": "development"}, "set": {"eligibility": {"user_groups": ["devops"]}}}
        ]
    )
    await world.click(APPROVER, await world.approval_dm(APPROVER, request.id), views.APPROVE_ACTION)

    told = await world.emulator.wait_for_message(REQUESTER, lambda m: NOT_ELIGIBLE in m.flat_text)
    assert "Only members of devops may request access to this account." in told.flat_text
    stored = await world.runtime.store.get(request.id)
    assert stored is not None and stored.status is Status.PENDING


async def test_still_eligible_is_granted(world: Sandbox) -> None:
    request = await submit(world)
    await world.click(APPROVER, await world.approval_dm(APPROVER, request.id), views.APPROVE_ACTION)
    await world.wait_for_status(request.id, Status.ACTIVE)


# -- extensions (issue 18 item 5): judged again when asked for and when approved -------------


async def active(world: Sandbox) -> AccessRequest:
    request = await submit(world)
    await world.click(APPROVER, await world.approval_dm(APPROVER, request.id), views.APPROVE_ACTION)
    return await world.wait_for_status(request.id, Status.ACTIVE)


async def test_a_requester_who_left_the_group_cannot_ask_for_an_extension(
    world: Sandbox,
) -> None:
    request = await active(world)
    world.emulator.set_usergroup_members("analysts", [])

    await request_extension(world, request.id)

    told = await world.emulator.wait_for_message(
        REQUESTER, lambda m: "may not be extended" in m.flat_text
    )
    assert NOT_ELIGIBLE in told.flat_text
    assert "Only members of analysts may request access to this account." in told.flat_text
    stored = await world.runtime.store.get(request.id)
    assert stored is not None and not stored.pending_extension
    assert not any("extend" in m.text for m in world.emulator.messages_to(APPROVER))


async def test_an_extension_approved_after_the_requester_left_the_group_is_refused(
    world: Sandbox,
) -> None:
    request = await active(world)
    await request_extension(world, request.id)
    ask = await world.emulator.wait_for_message(APPROVER, lambda m: "extend" in m.text)
    world.emulator.set_usergroup_members("analysts", [])

    await world.click(APPROVER, ask, views.APPROVE_EXTENSION_ACTION)

    for person in (APPROVER, REQUESTER):
        told = await world.emulator.wait_for_message(
            person, lambda m: "Extension of request" in m.flat_text and NOT_ELIGIBLE in m.flat_text
        )
        assert "Only members of analysts may request access to this account." in told.flat_text
    stored = await world.runtime.store.get(request.id)
    assert stored is not None and stored.expires_at == request.expires_at
    assert not stored.pending_extension
