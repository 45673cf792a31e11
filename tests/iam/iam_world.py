"""A world whose AWS enforces IAM: seeded as an operator while moto's authorization is off, then
the bot runs with the credentials of its ECS task role holding exactly the Terraform policies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aioboto3
import pytest
import yaml

from cloud_access_bot.aws.store import table_definition
from cloud_access_bot_sandbox.aws import SAML_TRUST_POLICY
from tests.iam.iam_policies import render, target_account_role

BOT_ACCOUNT = "123456789012"  # moto's account for credentials it did not issue
INLINE, MANAGED, SESSION = "111111111111", "222222222222", "333333333333"
ACCOUNTS = {"inline": INLINE, "managed": MANAGED, "session": SESSION}
MODES = {INLINE: "inline_policy", MANAGED: "managed_policy", SESSION: "session_credentials"}
LOGIN_ROLE = "SSO-Devops"
SSO_ROLE = f"AWSReservedSSO_{LOGIN_ROLE}_0123456789abcdef"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
TABLE = "cloud_access_bot"
CONFIG_BUCKET = "cloud-access-bot-config"
REGION = "eu-west-1"
FULL_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def bot_role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/cloud-access-bot"


def broker_role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/cloud-access-bot-broker"


def login_role_names(account: str) -> list[str]:
    """What an operator passes as login_role_names in each account (see docs/deploy.md)."""
    return [f"AWSReservedSSO_{LOGIN_ROLE}_*"] if account == MANAGED else [LOGIN_ROLE]


def bot_config(targets: Collection[str]) -> dict[str, Any]:
    """The bot's config with the accounts ``targets`` (numbers)."""
    accounts: dict[str, Any] = {
        name: {
            "account_number": number,
            "iam_role": bot_role(number),
            "access_mode": MODES[number],
        }
        for name, number in ACCOUNTS.items()
        if number in targets
    }
    if MANAGED in targets:
        accounts["managed"]["managed_policy_path"] = "/cloud-access-bot/"
    if SESSION in targets:
        accounts["session"]["broker_role"] = broker_role(SESSION)
    return {
        "loginRoles": [LOGIN_ROLE],
        "approvalGroups": ["devops"],
        "regions": [REGION],
        "accounts": accounts,
        "dynamoDbTable": TABLE,
        "request_command": "request",
        "durations_minutes": [1, 15, 60],
        "sweep_interval_seconds": 1,
    }


@dataclass
class Credentials:
    key: str
    secret: str
    token: str

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Credentials:
        raw = answer["Credentials"]
        return cls(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"])

    def keys(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.key,
            "aws_secret_access_key": self.secret,
            "aws_session_token": self.token,
        }


@dataclass
class Operator:
    """Full access in every account, through a role ``operator`` each account holds: its
    sessions, taken while IAM is off, stay valid once it is on."""

    sessions: dict[str, Credentials] = field(default_factory=dict)
    #: One session for every client: botocore loads each service model once per session.
    boto: aioboto3.Session = field(default_factory=lambda: aioboto3.Session(region_name=REGION))

    @asynccontextmanager
    async def client(self, service: str, account: str) -> AsyncIterator[Any]:
        async with self.boto.client(service, **self.sessions[account].keys()) as client:
            yield client

    async def join(self, account: str) -> None:
        async with self.boto.client("sts") as sts:
            answer = await sts.assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/operator", RoleSessionName="operator"
            )
        self.sessions[account] = Credentials.of(answer)
        async with self.client("iam", account) as iam:
            await role(iam, "operator", {"AWS": "*"}, FULL_ACCESS)

    async def assume(self, account: str, role_arn: str) -> Credentials:
        async with self.client("sts", account) as sts:
            return Credentials.of(await sts.assume_role(RoleArn=role_arn, RoleSessionName="test"))


def trust(principal: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }


async def role(
    iam: Any,
    name: str,
    trust_policy: dict[str, Any],
    policy: dict[str, Any] | None = None,
    path: str = "/",
) -> str:
    if "Statement" not in trust_policy:
        trust_policy = trust(trust_policy)
    created = await iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust_policy)
    )
    if policy is not None:
        await iam.put_role_policy(
            RoleName=name, PolicyName="cloud-access-bot", PolicyDocument=json.dumps(policy)
        )
    return str(created["Role"]["RoleId"])


async def seed_bot_account(operator: Operator, targets: Collection[str]) -> Credentials:
    """What the root module creates: the task role with its policy, the table, the config."""
    task_role = f"arn:aws:iam::{BOT_ACCOUNT}:role/cloud-access-bot-task"
    policy = render(
        "task-role",
        target_account_role_arns=[bot_role(a) for a in targets],
        table_arn=f"arn:aws:dynamodb:{REGION}:{BOT_ACCOUNT}:table/{TABLE}",
        config_object_arn=f"arn:aws:s3:::{CONFIG_BUCKET}/config.yml",
    )
    async with operator.client("iam", BOT_ACCOUNT) as iam:
        await role(iam, "cloud-access-bot-task", {"Service": "ecs-tasks.amazonaws.com"}, policy)
    async with operator.client("dynamodb", BOT_ACCOUNT) as dynamodb:
        await dynamodb.create_table(**table_definition(TABLE))
        await dynamodb.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
    async with operator.client("s3", BOT_ACCOUNT) as s3:
        await s3.create_bucket(
            Bucket=CONFIG_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        await s3.put_object(
            Bucket=CONFIG_BUCKET,
            Key="config.yml",
            Body=yaml.safe_dump(bot_config(targets)).encode(),
        )
    return await operator.assume(BOT_ACCOUNT, task_role)


async def seed_target_account(operator: Operator, account: str) -> None:
    """What modules/target-account-role creates in ``account`` (its templates, rendered), the
    login role, one bucket and one table for the resource picker, and an unrelated role."""
    mode = MODES[account]
    policy = target_account_role(
        mode, account_id=account, login_role_names=login_role_names(account)
    )
    bot_trust = render(
        "target-account-role-trust",
        bot_task_role_arn=f"arn:aws:iam::{BOT_ACCOUNT}:role/cloud-access-bot-task",
    )
    saml = json.loads(json.dumps(SAML_TRUST_POLICY).replace("{account}", account))
    async with operator.client("iam", account) as iam:
        await role(iam, "cloud-access-bot", bot_trust, policy)
        await role(iam, "Unrelated", saml)
        if mode == "inline_policy":
            await role(iam, LOGIN_ROLE, saml)
        elif mode == "managed_policy":
            await role(iam, SSO_ROLE, saml, path=SSO_PATH)
            await iam.create_policy(
                PolicyName="cloud-access-bot-grants",
                Path="/cloud-access-bot/",
                PolicyDocument=json.dumps(render("grants-policy-placeholder")),
            )
        else:
            broker_trust = render("broker-role-trust", role_arn=bot_role(account))
            await role(iam, "cloud-access-bot-broker", broker_trust, FULL_ACCESS)
    async with operator.client("s3", account) as s3:
        await s3.create_bucket(
            Bucket=f"acme-{account}-exports",
            CreateBucketConfiguration={"LocationConstraint": REGION},
        )
    async with operator.client("dynamodb", account) as dynamodb:
        await dynamodb.create_table(
            TableName=f"orders-{account}",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


async def seed(operator: Operator, targets: Collection[str]) -> Credentials:
    """The bot's account and the target accounts ``targets``, as the operator; the bot's
    task-role credentials."""
    await asyncio.gather(*(operator.join(a) for a in (BOT_ACCOUNT, *targets)))
    await asyncio.gather(*(seed_target_account(operator, a) for a in targets))
    return await seed_bot_account(operator, targets)


def as_bot(monkeypatch: pytest.MonkeyPatch, credentials: Credentials) -> None:
    """The bot's default credentials (read by botocore when each client is created)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials.secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials.token)
