"""The start-up check of approval groups, on a workspace without user groups (free plan)."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from cloud_access_bot.domain.approvers import ApproverSpec
from cloud_access_bot.domain.people import Person
from cloud_access_bot.startup import PAID_PLAN, check_groups
from cloud_access_bot_sandbox.scenario import sandbox_config


def _answer(error: str) -> SlackResponse:
    return SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/usergroups.list",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=200,
    )


class Workspace:
    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups

    async def members_of(self, groups: Sequence[str], *, fresh: bool = False) -> list[str]:
        return [m for g in groups for m in self.groups.get(g, [])]

    async def resolve(self, specs: Sequence[ApproverSpec], *, fresh: bool = False) -> list[str]:
        return await self.members_of([s.value for s in specs], fresh=fresh)

    async def channel_id(self, channel: str, *, fresh: bool = False) -> str | None:
        return None

    async def email_of(self, user_id: str) -> str | None:
        return None

    async def person(self, user_id: str) -> Person | None:
        return None

    async def is_active(self, user_id: str) -> bool:
        return True


class FreeWorkspace(Workspace):
    """A Directory on a free Slack plan: usergroups.list answers plan_upgrade_required."""

    def __init__(self) -> None:
        super().__init__({})

    async def members_of(self, groups: Sequence[str], *, fresh: bool = False) -> list[str]:
        raise SlackApiError("usergroups.list failed", _answer("plan_upgrade_required"))


async def test_a_free_workspace_is_told_user_groups_need_a_paid_plan() -> None:
    [finding] = await check_groups(FreeWorkspace(), sandbox_config())

    assert not finding.ok
    assert finding.line == PAID_PLAN
    assert finding.line.startswith("user groups need a paid Slack plan; ")


async def test_each_group_is_reported_with_its_members_or_as_unresolved() -> None:
    config = sandbox_config(approvalGroups=["devops", "sre"])

    findings = await check_groups(Workspace({"devops": ["U1", "U2"]}), config)

    assert [(f.ok, f.line) for f in findings] == [
        (True, "approval group devops: 2 member(s)"),
        (
            False,
            "approval group sre: not found in Slack or no active members; requests for "
            "development, production cannot be approved",
        ),
    ]
