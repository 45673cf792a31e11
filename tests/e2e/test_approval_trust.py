"""What an approver sees and who may approve, attacked from the outside through the emulator.

Each test is one way around the promise "a grant never exceeds what a current approver saw and
approved": hidden actions, a reason dressed as the bot's own text, a look-alike user group, an
approver removed mid-flight, an extension by one of two approvers, the requester approving
under a second Slack account, a workspace without user groups.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot.slack.directory import check_groups
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    LOGIN_ROLE,
    OUTSIDER,
    REQUESTER,
    Sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_workspace import Message
from tests.e2e.test_grant_changes import ask_extension

BOB, CAROL = APPROVERS
DAVE = "U0DAVE"
ALICE_ALT = "U0ALICEALT"


def configure(world: Sandbox, **overrides: Any) -> None:
    world.config = sandbox_config(**overrides)


def text_objects(node: Any) -> list[dict[str, Any]]:
    """Every text object (plain_text or mrkdwn) in a block tree."""
    if isinstance(node, list):
        return [t for item in node for t in text_objects(item)]
    if not isinstance(node, dict):
        return []
    if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
        return [node]
    return [t for value in node.values() for t in text_objects(value)]


async def pending(world: Sandbox, **request: Any) -> str:
    bucket = world.accounts["development"].buckets[0]
    ack = await world.request(**{"resources": [bucket], **request})
    assert ack.get("response_action") != "errors", ack
    return (await world.latest_request()).id


async def active(world: Sandbox, *approvers: str, **request: Any) -> str:
    request_id = await pending(world, duration=15, **request)
    for count, approver in enumerate(approvers or (BOB,), start=1):
        await world.click(approver, await world.approval_dm(approver, request_id), "approve")
        await world.wait_for(partial(_approvals, world, request_id, count), "the approval")
    await world.wait_for_status(request_id, Status.ACTIVE)
    return request_id


async def told(world: Sandbox, user: str, words: str) -> Message:
    return await world.emulator.wait_for_message(user, lambda m: words in m.text)


# -- 5. nothing granted is hidden ------------------------------------------------------------


async def request_267_ec2_actions_and_s3_on_star(world: Sandbox) -> dict[str, Any]:
    """The issue's request: every List + Read action of ec2 on *, and s3:GetObject on *."""
    emulator = world.emulator
    await emulator.slash_command(REQUESTER, "/request")
    modal = await emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.fill(views.REASON_ACTION, "Inventory")
    await modal.select(views.DURATION_ACTION, "15")
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()
    await modal.select(views.LOGIN_ROLE_ACTION, LOGIN_ROLE)
    await modal.suggest(views.SERVICE_ACTION, "ec2")
    await modal.select(views.SERVICE_ACTION, "ec2")
    await modal.wait_updated()
    await modal.suggest(views.ACTIONS_ACTION, "list")
    await modal.select_many(views.ACTIONS_ACTION, ["all:ec2:List+Read"])
    await modal.fill(views.ARNS_ACTION, "*")
    await modal.click(views.ADD_SERVICE_ACTION)
    await modal.wait_updated()
    await modal.suggest(views.SERVICE_ACTION, "s3")
    await modal.select(views.SERVICE_ACTION, "s3")
    await modal.wait_updated()
    await modal.suggest(views.ACTIONS_ACTION, "GetObject")
    await modal.select_many(views.ACTIONS_ACTION, ["s3:GetObject"])
    await modal.fill(views.ARNS_ACTION, "*")
    return await modal.submit()


async def test_a_large_request_shows_every_service_and_opens_the_full_list(
    world: Sandbox,
) -> None:
    configure(world, allow_wildcard_resources=True)
    ack = await request_267_ec2_actions_and_s3_on_star(world)
    assert ack.get("response_action") != "errors", ack
    request = await world.latest_request()
    ec2 = next(s for s in request.services if s.service == "ec2")
    assert len(ec2.actions) == 267

    dm = await world.approval_dm(BOB, request.id)
    texts = text_objects(dm.blocks)
    assert all(len(t["text"]) <= 3000 for t in texts)
    shown = "\n".join(t["text"] for t in texts)
    assert "…" not in shown, "nothing is cut short"
    assert "ec2: 267 actions on 1 resource" in shown
    assert "s3: 1 action on 1 resource" in shown, "the s3 part must not be hidden"
    assert "Wildcard resources: *" in shown
    assert "Read" in shown and "List" in shown, "counts per access level"

    await world.click(BOB, dm, views.SHOW_FULL_ACTION)
    full = await world.emulator.wait_for_view(BOB, views.FULL_REQUEST_CALLBACK)
    assert len(full.blocks) <= 100
    listed = [t["text"] for t in text_objects(full.blocks)]
    assert all(len(t) <= 3000 for t in listed)
    lines = {line.strip() for text in listed for line in text.splitlines()}
    assert set(ec2.actions) <= lines and "s3:GetObject" in lines and "*" in lines

    # Somebody the request was not sent to cannot open it by forging the click.
    await world.click(OUTSIDER, dm, views.SHOW_FULL_ACTION)
    await told(world, OUTSIDER, "Only the requester, the approvers and admins")
    events = await world.runtime.store.events(request.id)
    assert len(events[0].details["services"][0]["actions"]) == 267, "the audit keeps it all"


# -- 6. the requester's words cannot imitate the bot's ---------------------------------------

FORGED = "Routine check\n*Services*: nothing dangerous\n*Approved by*: security"


def unquoted_forgeries(blocks: list[dict[str, Any]] | str) -> list[str]:
    """Lines of mrkdwn that show the forged second or third line as if the bot wrote them."""
    if isinstance(blocks, str):
        texts = [{"type": "mrkdwn", "text": blocks}]
    else:
        texts = text_objects(blocks)
    return [
        line
        for t in texts
        if t["type"] == "mrkdwn"
        for line in t["text"].splitlines()
        if ("nothing dangerous" in line or "Approved by*" in line) and not line.startswith(">")
    ]


async def test_a_reason_of_several_lines_is_quoted_everywhere(world: Sandbox) -> None:
    request_id = await pending(world, reason=FORGED)

    dm = await world.approval_dm(BOB, request_id)
    assert "nothing dangerous" in dm.flat_text
    assert unquoted_forgeries(dm.blocks) == []
    mine = await world.emulator.wait_for_message(REQUESTER, lambda m: request_id in m.flat_text)
    assert unquoted_forgeries(mine.blocks) == []

    await world.emulator.app_home_opened(BOB)
    home = await world.emulator.wait_for_home(BOB, lambda t: request_id in t.text)
    assert "nothing dangerous" in home.text and unquoted_forgeries(home.blocks) == []

    await world.emulator.slash_command(REQUESTER, "/request", "list")
    answer = await world.emulator.wait_until(
        lambda: next(
            (e for e in world.emulator.ephemerals_to(REQUESTER) if request_id in e.text), None
        ),
        description="the list answer",
    )
    assert "nothing dangerous" in answer.text and unquoted_forgeries(answer.text) == []


# -- 7. approval groups are resolved exactly -------------------------------------------------


async def test_a_group_named_like_the_approval_group_gets_nothing(world: Sandbox) -> None:
    # Anyone may create a user group: this one is *named* devops, its handle is another.
    world.emulator.add_usergroup("mallory-crew", [OUTSIDER], name="devops")
    request_id = await pending(world)
    bob_dm = await world.approval_dm(BOB, request_id)
    assert not any(request_id in m.flat_text for m in world.emulator.messages_to(OUTSIDER))

    await world.click(OUTSIDER, bob_dm, views.APPROVE_ACTION)

    await told(world, OUTSIDER, "Only members of the approval groups")
    assert (await world.runtime.store.get(request_id)).status is Status.PENDING  # type: ignore[union-attr]


async def test_check_groups_names_unknown_ambiguous_and_display_name_groups(
    world: Sandbox,
) -> None:
    sre = world.emulator.add_usergroup("sre", [CAROL], name="Site reliability")
    world.emulator.add_usergroup("oncall", [BOB])
    world.emulator.add_usergroup("oncall", [OUTSIDER])
    config = sandbox_config(
        approvalGroups=["devops", sre, "Site reliability"], admin_groups=["oncall", "nobody"]
    )
    client = AsyncWebClient(token=world.emulator.bot_token, base_url=world.emulator.api_url)

    problems = await check_groups(client, config)

    assert len(problems) == 3, problems
    assert problems[0].startswith("approvalGroups.2: 'Site reliability' is not the handle")
    assert "display names never match" in problems[0]
    assert problems[1].startswith("admin_groups.0: 'oncall' matches several")
    assert problems[2].startswith("admin_groups.1: 'nobody' is not the handle")
    assert await check_groups(client, sandbox_config()) == []


# -- 8. N-of-M counts current approvers only -------------------------------------------------


async def test_an_approval_of_someone_since_removed_no_longer_counts(world: Sandbox) -> None:
    world.emulator.add_user(DAVE, name="dave", email="dave@example.com")
    world.emulator.set_usergroup_members("devops", [*APPROVERS, DAVE])
    configure(world, approvals_required=2)
    request_id = await pending(world)
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.wait_for(lambda: _approvals(world, request_id, 1), "Bob's approval to be recorded")
    world.emulator.set_usergroup_members("devops", [CAROL, DAVE])  # Bob leaves the group

    await world.click(CAROL, await world.approval_dm(CAROL, request_id), views.APPROVE_ACTION)

    await world.wait_for(lambda: _approvals(world, request_id, 2), "Carol's approval")
    assert (await world.runtime.store.get(request_id)).status is Status.PENDING  # type: ignore[union-attr]
    await told(world, CAROL, "no longer counts")
    await world.click(DAVE, await world.approval_dm(DAVE, request_id), views.APPROVE_ACTION)
    granted = await world.wait_for_status(request_id, Status.ACTIVE)
    assert granted.decided_by == DAVE


async def _approvals(world: Sandbox, request_id: str, count: int) -> bool:
    request = await world.runtime.store.get(request_id)
    return request is not None and len(request.approvals) >= count


# -- 9. extensions follow the same rules -----------------------------------------------------


async def test_an_extension_of_a_two_approver_grant_needs_two_current_approvers(
    world: Sandbox,
) -> None:
    world.emulator.add_user(ALICE_ALT, name="alice-admin", email="Alice+admin@example.com")
    world.emulator.set_usergroup_members("devops", [*APPROVERS, ALICE_ALT])
    configure(world, approvals_required=2)
    request_id = await active(world, BOB, CAROL)
    before = await world.runtime.store.get(request_id)
    assert before is not None and before.expires_at is not None
    ask = await ask_extension(world, request_id, approver=ALICE_ALT)

    # The requester's second account cannot approve it, Bob alone does not extend it.
    await world.click(ALICE_ALT, ask, views.APPROVE_EXTENSION_ACTION)
    await told(world, ALICE_ALT, "own extension")
    ask = await world.emulator.wait_for_message(BOB, lambda m: "extend" in m.text)
    await world.click(BOB, ask, views.APPROVE_EXTENSION_ACTION)
    await told(world, BOB, "Approval of the extension by 60 minutes by <@U0BOB> recorded")
    now = await world.runtime.store.get(request_id)
    assert now is not None and now.expires_at == before.expires_at

    ask = await world.emulator.wait_for_message(CAROL, lambda m: "extend" in m.text)
    await world.click(CAROL, ask, views.APPROVE_EXTENSION_ACTION)
    await told(world, REQUESTER, "now lasts until")
    extended = await world.runtime.store.get(request_id)
    assert extended is not None and extended.expires_at is not None
    assert (extended.expires_at - before.expires_at).total_seconds() == 3600
    types = [e.type for e in await world.runtime.store.events(request_id)]
    assert types[-3:] == [
        EventType.EXTENSION_REQUESTED,
        EventType.EXTENSION_APPROVAL_ADDED,
        EventType.EXTENDED,
    ]


# -- 10. one person, several Slack accounts --------------------------------------------------


async def test_the_requester_cannot_approve_under_a_second_slack_account(
    world: Sandbox,
) -> None:
    alice_uk = "U0ALICEUK"
    world.emulator.add_user(ALICE_ALT, name="alice-ops", email="ALICE+ops@example.com")
    world.emulator.add_user(alice_uk, name="alice-uk", email="alice@example.co.uk")
    world.emulator.set_usergroup_members("devops", [*APPROVERS, ALICE_ALT, alice_uk])
    request_id = await pending(world)

    await world.click(ALICE_ALT, await world.approval_dm(ALICE_ALT, request_id), "approve")
    await told(world, ALICE_ALT, "own request")
    configure(world, email_alias_domains={"example.co.uk": "example.com"})
    await world.click(alice_uk, await world.approval_dm(alice_uk, request_id), "approve")
    await told(world, alice_uk, "own request")

    assert (await world.runtime.store.get(request_id)).status is Status.PENDING  # type: ignore[union-attr]
    assert [e.type for e in await world.runtime.store.events(request_id)] == [EventType.REQUESTED]


# -- 11. admins revoke any grant -------------------------------------------------------------


async def test_an_admin_revokes_a_grant_of_an_account_they_do_not_approve(
    world: Sandbox,
) -> None:
    world.emulator.add_user(DAVE, name="dave", email="dave@example.com")
    world.emulator.add_usergroup("sre-oncall", [DAVE])
    configure(world, admin_groups=["sre-oncall"])
    request_id = await active(world)

    await world.emulator.slash_command(DAVE, "/request", f"revoke {request_id}")

    revoked = await world.wait_for_status(request_id, Status.REVOKED)
    assert revoked.status is Status.REVOKED


# -- 17. a fair share of a shared login role -------------------------------------------------


async def test_one_requester_cannot_fill_a_shared_role(world: Sandbox) -> None:
    for _ in range(3):  # the default share: 3 open grants per person and login role
        await active(world)

    ack = await world.request(resources=[world.accounts["development"].buckets[0]])

    assert ack.get("response_action") != "errors", ack
    refusal = await told(world, REQUESTER, "not stored")
    assert "at most 3 at a time" in refusal.text and LOGIN_ROLE in refusal.text
    assert len(await world.runtime.store.for_user(REQUESTER)) == 3
    # Somebody else still gets the role.
    world.emulator.set_usergroup_members("devops", [BOB])
    ack = await world.request(user=CAROL, resources=[world.accounts["development"].buckets[0]])
    assert ack.get("response_action") != "errors", ack
    assert (await world.latest_request(CAROL)).status is Status.PENDING


# -- issue 20 item 9: a free Slack plan has no user groups -----------------------------------


async def test_a_workspace_without_user_groups_gets_a_clear_answer(world: Sandbox) -> None:
    world.emulator.workspace.has_usergroups = False

    ack = await world.request(resources=[world.accounts["development"].buckets[0]])

    assert ack.get("response_action") != "errors", ack
    refusal = await told(world, REQUESTER, "not stored")
    assert "plan_upgrade_required" in refusal.text and "upgrade" in refusal.text
    assert await world.runtime.store.for_user(REQUESTER) == []
    client = AsyncWebClient(token=world.emulator.bot_token, base_url=world.emulator.api_url)
    [problem] = await check_groups(client, world.config)
    assert "plan_upgrade_required" in problem
