"""session_credentials grants on moto: the real AssumeRole call, a faked federation endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aioboto3
import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.session_granter import (
    SESSION_POLICY_LIMIT,
    SessionCredentialsGranter,
    session_name,
)
from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess, iso, utcnow
from cloud_access_bot.ports import GrantError
from tests.factories import access_request

ACCOUNT_ID = "111111111111"
BROKER = f"arn:aws:iam::{ACCOUNT_ID}:role/access-broker"
ACCOUNT = AccountConfig(
    account_number=ACCOUNT_ID,
    iam_role=f"arn:aws:iam::{ACCOUNT_ID}:role/cloud-access-bot",
    access_mode="session_credentials",
    broker_role=BROKER,
    regions=["eu-west-2"],
)
BUCKET = "acme-exports"


def make_request(
    actions: tuple[str, ...] = ("s3:GetObject", "s3:ListBucket"),
    resources: tuple[str, ...] = (f"arn:aws:s3:::{BUCKET}",),
    minutes: int = 30,
) -> AccessRequest:
    return access_request(
        id="abcdef012345",
        requester_id="U0ALICE",
        requester_email="alice+ops@example.com",
        account_name="development",
        account_id=ACCOUNT_ID,
        login_role="",
        duration_minutes=minutes,
        services=(ServiceAccess("s3", actions, resources),),
        created_at=utcnow(),
    )


class Federation:
    """Fake federation endpoint: records the exchanges and hands out a fixed token."""

    def __init__(self) -> None:
        self.calls: list[Mapping[str, str]] = []

    async def __call__(self, params: Mapping[str, str]) -> Mapping[str, Any]:
        self.calls.append(params)
        return {"SigninToken": "FAKE-SIGNIN-TOKEN"}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def __call__(self, request: AccessRequest, text: str) -> None:
        self.messages.append((request.requester_id, text))


async def record_assume_role(clients: AwsClients) -> list[dict[str, Any]]:
    """Every AssumeRole the granter sends through the account's (shared, cached) STS client."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    async with clients.assumed("sts", ACCOUNT.iam_role) as sts:
        sts.meta.events.register("provide-client-params.sts.AssumeRole", record)
    return calls


def granter(
    clients: AwsClients, inbox: Inbox, federation: Federation, **kwargs: Any
) -> SessionCredentialsGranter:
    return SessionCredentialsGranter(
        clients, deliver=inbox, fetch_token=federation, issuer="https://acme.slack.com", **kwargs
    )


async def test_grant_dms_a_link_for_a_session_limited_to_the_grant(
    clients: AwsClients, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cloud_access_bot")
    calls = await record_assume_role(clients)
    inbox, federation = Inbox(), Federation()
    request = make_request()
    start = utcnow().replace(microsecond=0)
    end = start + timedelta(minutes=30)

    result = await granter(clients, inbox, federation).grant(request, ACCOUNT, start, end)

    [call] = calls
    assert call["RoleArn"] == BROKER
    assert call["RoleSessionName"] == "alice+ops@example.com"
    assert 1790 <= call["DurationSeconds"] <= 1800
    policy = json.loads(call["Policy"])
    assert policy == result.policy_document
    allowed = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Condition"] == {
            "DateGreaterThan": {"aws:CurrentTime": iso(start)},
            "DateLessThan": {"aws:CurrentTime": iso(end)},
            "StringEquals": {"aws:ResourceAccount": ACCOUNT.account_number},
        }
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            allowed[action] = statement["Resource"]
    assert allowed == {
        "s3:GetObject": f"arn:aws:s3:::{BUCKET}/*",
        "s3:ListBucket": f"arn:aws:s3:::{BUCKET}",
    }
    # The link came from the credentials moto really issued for the broker role.
    [exchange] = federation.calls
    session = json.loads(exchange["Session"])
    async with aioboto3.Session().client(
        "sts",
        region_name="eu-west-1",
        aws_access_key_id=session["sessionId"],
        aws_secret_access_key=session["sessionKey"],
        aws_session_token=session["sessionToken"],
    ) as sts:
        identity = await sts.get_caller_identity()
    assert identity["Arn"].endswith(":assumed-role/access-broker/alice+ops@example.com")
    [(user, text)] = inbox.messages
    assert user == "U0ALICE"
    link = text.split("<", 1)[1].split("|", 1)[0]
    assert parse_qs(urlsplit(link).query)["SigninToken"] == ["FAKE-SIGNIN-TOKEN"]
    assert session["sessionKey"] not in text, "no CLI credentials unless config allows them"
    # What is returned (and so stored and audited) and what is logged hold no secret.
    stored = json.dumps([result.policy_name, result.policy_document])
    for secret in (session["sessionKey"], session["sessionToken"], "FAKE-SIGNIN-TOKEN"):
        assert secret not in stored
        assert secret not in caplog.text


async def test_cli_credentials_only_when_allowed(clients: AwsClients) -> None:
    inbox, federation = Inbox(), Federation()
    start = utcnow()
    await granter(clients, inbox, federation, cli_credentials=lambda account: True).grant(
        make_request(), ACCOUNT, start, start + timedelta(minutes=30)
    )
    session = json.loads(federation.calls[0]["Session"])
    text = inbox.messages[0][1]
    assert f"export AWS_SECRET_ACCESS_KEY={session['sessionKey']}" in text
    assert f"export AWS_SESSION_TOKEN={session['sessionToken']}" in text


@pytest.mark.parametrize(("minutes", "seconds"), [(1, 900), (480, 3600)])
async def test_duration_within_sts_floor_and_role_chaining_cap(
    clients: AwsClients, minutes: int, seconds: int
) -> None:
    calls = await record_assume_role(clients)
    inbox, federation = Inbox(), Federation()
    start = utcnow().replace(microsecond=0)
    await granter(clients, inbox, federation).grant(
        make_request(minutes=minutes), ACCOUNT, start, start + timedelta(minutes=minutes)
    )
    assert calls[0]["DurationSeconds"] == seconds
    assert federation.calls[0]["SessionDuration"] == str(seconds)


async def test_policy_over_the_session_limit_is_refused_before_assuming(
    clients: AwsClients,
) -> None:
    calls = await record_assume_role(clients)
    inbox, federation = Inbox(), Federation()
    buckets = tuple(f"arn:aws:s3:::acme-bucket-with-a-long-name-{n:03d}" for n in range(40))
    request = make_request(actions=("s3:GetObject", "s3:ListBucket"), resources=buckets)
    start = utcnow()
    with pytest.raises(GrantError, match=str(SESSION_POLICY_LIMIT)) as raised:
        await granter(clients, inbox, federation).grant(
            request, ACCOUNT, start, start + timedelta(minutes=30)
        )
    assert raised.value.code == "SessionPolicyTooLarge"
    assert calls == [] and inbox.messages == []


async def test_revoke_has_nothing_to_remove(clients: AwsClients) -> None:
    assert await granter(clients, Inbox(), Federation()).revoke(make_request(), ACCOUNT) is False


def test_session_name_keeps_only_what_sts_accepts() -> None:
    assert session_name("Bob Smith!@example.com") == "Bob-Smith-@example.com"
    assert len(session_name("a" * 80 + "@example.com")) == 64
