"""`/request audit …` in Slack: admins get answers, everyone else is refused."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, Sandbox, sandbox_config
from tests.e2e.test_sigkill_restart import process_env

BOB, CAROL = APPROVERS


async def granted_with_carol_as_admin(world: Sandbox) -> AccessRequest:
    """Alice's request, approved by Bob, with Carol in the admin group."""
    world.emulator.workspace.add_usergroup("security", [CAROL], name="Security")
    world.config = sandbox_config(admin_groups=["security"])
    await world.request(resources=[world.accounts["development"].buckets[0]])
    request = await world.latest_request()
    await world.click(BOB, await world.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    await world.wait_for_status(request.id, Status.ACTIVE)
    return request


async def test_audit_queries_are_for_admins_only(world: Sandbox) -> None:
    request = await granted_with_carol_as_admin(world)

    await world.emulator.slash_command(REQUESTER, "/request", f"audit show {request.id}")
    await world.emulator.slash_command(CAROL, "/request", f"audit show {request.id}")

    def answer_to(user: str) -> str:
        texts = [r.body.get("text", "") for r in world.emulator.responses if r.user_id == user]
        return texts[-1] if texts else ""

    await world.emulator.wait_until(lambda: answer_to(REQUESTER) and answer_to(CAROL))
    assert "Only members of the admin groups" in answer_to(REQUESTER)
    assert request.id in answer_to(CAROL) and "GRANTED" in answer_to(CAROL)


async def test_audit_answers_name_people_next_to_their_slack_ids(world: Sandbox) -> None:
    world.emulator.workspace.users[REQUESTER].real_name = "Alice Example"
    request = await granted_with_carol_as_admin(world)

    await world.emulator.slash_command(CAROL, "/request", f"audit show {request.id}")
    await world.emulator.slash_command(CAROL, "/request", "audit list --user alice@example.com")

    def answers() -> list[str]:
        return [r.body.get("text", "") for r in world.emulator.responses if r.user_id == CAROL]

    await world.emulator.wait_until(lambda: len(answers()) == 2)
    (shown,) = [a for a in answers() if a.startswith("*Request*")]
    (listed,) = [a for a in answers() if a.startswith("*1 request(s)*")]
    assert "requester   Alice Example &lt;alice@example.com&gt; (U0ALICE)" in shown
    assert "approved by bob &lt;bob@example.com&gt; (U0BOB)" in shown
    assert "Alice Example &lt;alice@example.com&gt; (U0ALICE)" in listed


async def test_cli_names_people_with_a_bot_token_and_keeps_ids_in_json(
    world: Sandbox, tmp_path: Path
) -> None:
    await world.request(resources=[world.accounts["development"].buckets[0]])
    request = await world.latest_request()
    config = tmp_path / "bot.json"
    config.write_text(json.dumps(world.config.model_dump(mode="json")))
    env = process_env(world.emulator, config, tmp_path)

    async def audit(*args: str, **env_changes: str | None) -> str:
        changed = {k: v for k, v in {**env, **env_changes}.items() if v is not None}
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud_access_bot", "audit", *args,
            env=changed, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await cli.communicate()
        assert cli.returncode == 0
        return out.decode()

    named, bare, machine = await asyncio.gather(
        audit("show", request.id),
        audit("show", request.id, SLACK_BOT_TOKEN=None),
        audit("show", request.id, "--format", "json"),
    )

    assert "requester   alice <alice@example.com> (U0ALICE)" in named
    assert "requester   U0ALICE (alice@example.com)" in bare
    assert json.loads(machine)["request"]["requester"] == REQUESTER
