"""`/request audit …` in Slack: admins get answers, everyone else is refused."""

from __future__ import annotations

from cloud_access_bot.domain.model import Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, Sandbox, sandbox_config

BOB, CAROL = APPROVERS


async def test_audit_queries_are_for_admins_only(world: Sandbox) -> None:
    world.emulator.workspace.add_usergroup("security", [CAROL], name="Security")
    world.config = sandbox_config(admin_groups=["security"])
    await world.request(resources=[world.accounts["development"].buckets[0]])
    request = await world.latest_request()
    await world.click(BOB, await world.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    await world.wait_for_status(request.id, Status.ACTIVE)

    await world.emulator.slash_command(REQUESTER, "/request", f"audit show {request.id}")
    await world.emulator.slash_command(CAROL, "/request", f"audit show {request.id}")

    def answer_to(user: str) -> str:
        texts = [r.body.get("text", "") for r in world.emulator.responses if r.user_id == user]
        return texts[-1] if texts else ""

    await world.emulator.wait_until(lambda: answer_to(REQUESTER) and answer_to(CAROL))
    assert "Only members of the admin groups" in answer_to(REQUESTER)
    assert request.id in answer_to(CAROL) and "GRANTED" in answer_to(CAROL)
