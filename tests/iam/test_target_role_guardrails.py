"""The target-account role's explicit Denies hold even when someone gives that role more: with a
full-access policy added to it, the bot's role still cannot change its own role, the broker
role or any role outside the login roles (moto enforces Deny by action and resource; it
ignores conditions, so the iam:PolicyARN limit on attachments is checked by terraform test)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from botocore.exceptions import ClientError

from tests.iam.iam_world import (
    FULL_ACCESS,
    INLINE,
    LOGIN_ROLE,
    SESSION,
    Credentials,
    Operator,
    bot_role,
    seed,
)
from tests.iam.moto_iam import DENIALS, set_enforcement

GUARDED = {INLINE: ("cloud-access-bot", "Unrelated"), SESSION: ("cloud-access-bot-broker",)}
NOTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
}


@pytest.fixture
async def bot_sessions(
    aws: str, taught: None, operator: Operator
) -> AsyncIterator[dict[str, Credentials]]:
    """The bot's role sessions in INLINE and SESSION, each role also holding full access."""
    set_enforcement(aws, after=float("inf"))
    await seed(operator, tuple(GUARDED))
    sessions = {}
    for account in GUARDED:
        async with operator.client("iam", account) as iam:
            await iam.put_role_policy(
                RoleName="cloud-access-bot",
                PolicyName="added-by-someone-else",
                PolicyDocument=json.dumps(FULL_ACCESS),
            )
        sessions[account] = await operator.assume(account, bot_role(account))
    set_enforcement(aws, after=0)
    DENIALS.clear()
    try:
        yield sessions
    finally:
        set_enforcement(aws, after=float("inf"))


async def put_policy(operator: Operator, credentials: Credentials, role: str) -> str:
    """What IAM answers when the bot's role puts an inline policy on ``role``."""
    async with operator.boto.client("iam", **credentials.keys()) as iam:
        try:
            await iam.put_role_policy(
                RoleName=role, PolicyName="cloud-access-bot-x", PolicyDocument=json.dumps(NOTHING)
            )
        except ClientError as exc:
            return f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}"
    return "allowed"


async def test_the_bots_role_changes_only_the_login_roles(
    bot_sessions: dict[str, Credentials], operator: Operator
) -> None:
    assert await put_policy(operator, bot_sessions[INLINE], LOGIN_ROLE) == "allowed"
    for account, roles in GUARDED.items():
        for role in roles:
            answer = await put_policy(operator, bot_sessions[account], role)
            assert answer.startswith("AccessDenied") and "iam:PutRolePolicy" in answer, (
                role,
                answer,
            )
    assert {(d.action, d.resource.rsplit("/", 1)[-1]) for d in DENIALS} == {
        ("iam:PutRolePolicy", role) for roles in GUARDED.values() for role in roles
    }
