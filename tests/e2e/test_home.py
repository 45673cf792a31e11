"""The App Home tab through the emulator: what it shows, and acting on requests from it."""

from __future__ import annotations

import copy
from datetime import timedelta

from cloud_access_bot.domain.model import AccessRequest, Status, utcnow
from cloud_access_bot.slack import home
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, Sandbox, sandbox_config
from cloud_access_bot_sandbox.slack_people import (
    ViewHandle,
    action_json,
    find_element,
    view_action_payload,
)
from tests.factories import access_request

BOB, CAROL = APPROVERS


async def pending_request(world: Sandbox) -> str:
    return (await world.submit(resources=[world.accounts["development"].buckets[0]])).id


def buttons(tab: ViewHandle) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element.get("value", ""))
        for block in tab.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def test_home_lists_my_requests_and_my_approval_queue(world: Sandbox) -> None:
    request_id = await pending_request(world)

    await world.emulator.app_home_opened(REQUESTER)
    mine = await world.emulator.wait_for_home(REQUESTER, lambda t: request_id in t.text)
    assert "development" in mine.text and "s3: s3:GetObject" in mine.text
    assert "waiting for approval" in mine.text
    assert (home.HOME_CANCEL, request_id) in buttons(mine)
    assert "Waiting for your approval" not in mine.text

    await world.emulator.app_home_opened(BOB)
    queue = await world.emulator.wait_for_home(BOB, lambda t: request_id in t.text)
    assert "Waiting for your approval" in queue.text and f"<@{REQUESTER}>" in queue.text
    assert (home.HOME_APPROVE, request_id) in buttons(queue)
    assert (home.HOME_DENY, request_id) in buttons(queue)


async def test_approve_then_revoke_from_home(world: Sandbox) -> None:
    request_id = await pending_request(world)
    await world.emulator.app_home_opened(BOB)
    queue = await world.emulator.wait_for_home(BOB, lambda t: request_id in t.text)

    await queue.click(home.HOME_APPROVE, request_id)
    active = await world.wait_for_status(request_id, Status.ACTIVE)
    assert active.decided_by == BOB
    await world.emulator.wait_for_home(BOB, lambda t: request_id not in t.text)

    await world.emulator.app_home_opened(REQUESTER)
    mine = await world.emulator.wait_for_home(REQUESTER, lambda t: "min left" in t.text)
    assert (home.HOME_REVOKE, request_id) in buttons(mine)
    await mine.click(home.HOME_REVOKE, request_id)
    await world.wait_for_status(request_id, Status.REVOKED)
    after = await world.emulator.wait_for_home(REQUESTER, lambda t: "Recent history" in t.text)
    assert request_id in after.text and "revoked" in after.text
    assert "Nothing pending or active." in after.text


async def test_cancel_from_home_and_outsider_click_changes_nothing(world: Sandbox) -> None:
    request_id = await pending_request(world)
    await world.emulator.app_home_opened(CAROL)
    queue = await world.emulator.wait_for_home(CAROL, lambda t: request_id in t.text)
    await world.emulator.app_home_opened(REQUESTER)
    mine = await world.emulator.wait_for_home(REQUESTER, lambda t: request_id in t.text)

    stale_block, stale_button = find_element(copy.deepcopy(queue.blocks), home.HOME_APPROVE)
    await mine.click(home.HOME_CANCEL, request_id)
    await world.wait_for_status(request_id, Status.CANCELLED)
    await world.emulator.wait_for_home(REQUESTER, lambda t: "cancelled" in t.text)

    # A click from a tab that was showing the request before it was cancelled (Slack may
    # deliver it late) is refused by the service, and Carol is told.
    workspace = world.emulator.workspace
    payload = view_action_payload(
        workspace,
        queue.view,
        action_json(stale_block, stale_button),
        workspace.issue_trigger(CAROL),
    )
    await world.emulator.send_envelope("interactive", payload)
    await world.emulator.wait_for_message(CAROL, lambda m: "cancelled" in m.text.lower())
    assert (await world.runtime.store.get(request_id)).status is Status.CANCELLED  # type: ignore[union-attr]
    await world.emulator.wait_for_home(CAROL, lambda t: request_id not in t.text)


def make_request(index: int, status: Status) -> AccessRequest:
    now = utcnow()
    return access_request(
        id=f"{index:012x}",
        requester_id=REQUESTER,
        account_name="development",
        login_role="SSO-Devops",
        created_at=now,
        status=status,
        approvers=(BOB,),
        expires_at=now + timedelta(minutes=42),
    )


def test_a_busy_home_stays_within_slack_block_limit() -> None:
    mine = [make_request(i, Status.ACTIVE if i % 2 else Status.EXPIRED) for i in range(120)]
    queue = [make_request(1000 + i, Status.PENDING) for i in range(80)]
    view = home.home_view(BOB, mine, queue, sandbox_config(), utcnow())
    assert len(view["blocks"]) <= 100
    text = str(view)
    assert "and 40 more" in text  # 60 active, 20 shown
    assert "and 60 more" in text  # 80 waiting, 20 shown
    assert "41 min left" in text or "42 min left" in text


async def test_open_home_tabs_follow_every_change(world: Sandbox) -> None:
    await world.emulator.app_home_opened(BOB)
    await world.emulator.wait_for_home(BOB)

    request_id = await pending_request(world)
    queue = await world.emulator.wait_for_home(BOB, lambda t: request_id in t.text)
    assert (home.HOME_APPROVE, request_id) in buttons(queue)

    await world.click(CAROL, await world.approval_dm(CAROL, request_id), "approve")
    await world.emulator.wait_for_home(
        BOB, lambda t: (home.HOME_APPROVE, request_id) not in buttons(t)
    )
