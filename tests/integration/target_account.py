"""The target account the granter tests write to: its config, a login role to seed, the fixed
grant window and a request for it (imported by test modules; fixtures are in conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.config import AccountConfig
from cloud_access_bot_sandbox.aws import SAML_TRUST_POLICY

TARGET = AccountConfig(account_number="111111111111", iam_role="arn:aws:iam::111111111111:role/bot")
START = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
PREFIX = "cloud-access-bot-"
LOGIN_ROLE = "Developer"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"


async def create_role(
    clients: AwsClients, account: AccountConfig = TARGET, name: str = LOGIN_ROLE, path: str = "/"
) -> str:
    """Create a login role trusting the account's SAML identity provider; its RoleId."""
    trust = json.dumps(SAML_TRUST_POLICY).replace("{account}", account.account_number)
    async with clients.assumed("iam", account.iam_role) as iam:
        role = await iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust)
    return str(role["Role"]["RoleId"])


async def inline_policies(
    clients: AwsClients, account: AccountConfig = TARGET, role: str = LOGIN_ROLE
) -> dict[str, Any]:
    """The role's inline policies by name, as IAM holds them."""
    async with clients.assumed("iam", account.iam_role) as iam:
        names = (await iam.list_role_policies(RoleName=role))["PolicyNames"]
        return {
            n: (await iam.get_role_policy(RoleName=role, PolicyName=n))["PolicyDocument"]
            for n in names
        }
