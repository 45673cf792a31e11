"""AWS refusing or throttling a grant: injected into the real client's HTTP layer (before-send),
so botocore's retries and error parsing run exactly as against AWS. Each refusal ends in a
GrantError for people and leaves the role's or policy's contents unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiobotocore.awsrequest import AioAWSResponse

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.aws.managed_granter import ManagedPolicyGranter, policy_arn
from cloud_access_bot.config import AccessMode
from cloud_access_bot.ports import GrantError
from tests.factories import access_request
from tests.integration.target_account import (
    END,
    LOGIN_ROLE,
    SSO_PATH,
    START,
    TARGET,
    create_role,
    inline_policies,
)

SSO = TARGET.model_copy(update={"access_mode": AccessMode.MANAGED_POLICY})
TEAM = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
}


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        return self._data


def inject(
    client: Any, operation: str, code: str, *, status: int = 400, times: int = 1000
) -> list[int]:
    """Make the next ``times`` calls of ``operation`` answer with AWS error ``code``.

    Returns a list that grows by one per call answered by the fault.
    """
    service = client.meta.service_model.service_id.hyphenize()
    answered: list[int] = []
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>injected {code}</Message>"
        "</Error><RequestId>fault</RequestId></ErrorResponse>"
    ).encode()

    def respond(request: Any, **_: Any) -> AioAWSResponse | None:
        if len(answered) >= times:
            return None
        answered.append(1)
        return AioAWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Body(body))

    client.meta.events.register(f"before-send.{service}.{operation}", respond)
    return answered


@pytest.fixture
async def clients(clients: AwsClients) -> AwsClients:
    """The shared clients, with a Developer login role holding a team policy and an SSO role."""
    await create_role(clients)
    await create_role(clients, name="AWSReservedSSO_Ops_0123456789abcdef", path=SSO_PATH)
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        await iam.put_role_policy(
            RoleName=LOGIN_ROLE, PolicyName="team", PolicyDocument=json.dumps(TEAM)
        )
    return clients


async def test_throttling_is_retried_then_the_grant_succeeds(clients: AwsClients) -> None:
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        throttled = inject(iam, "PutRolePolicy", "Throttling", times=2)
    result = await InlinePolicyGranter(clients, "cab-").grant(access_request(), TARGET, START, END)
    assert len(throttled) == 2
    assert (await inline_policies(clients))[result.policy_name] == result.policy_document


@pytest.mark.parametrize(
    ("code", "status", "says"),
    [
        (
            "AccessDenied",
            403,
            "The bot's role arn:aws:iam::111111111111:role/bot is not allowed "
            "to change role Developer in account 111111111111: injected AccessDenied",
        ),
        (
            "LimitExceeded",
            409,
            "IAM refused: role Developer in account 111111111111 reached an "
            "IAM quota (injected LimitExceeded).",
        ),
        (
            "UnmodifiableEntity",
            400,
            "Role Developer in account 111111111111 cannot be changed "
            "through IAM (IAM Identity Center roles need access_mode: managed_policy for this "
            "account).",
        ),
        (
            "MalformedPolicyDocument",
            400,
            "IAM rejected the policy for role Developer in account "
            "111111111111: injected MalformedPolicyDocument",
        ),
    ],
)
async def test_iam_refusal_is_a_readable_grant_error_and_changes_nothing(
    clients: AwsClients, code: str, status: int, says: str
) -> None:
    before = await inline_policies(clients)
    async with clients.assumed("iam", TARGET.iam_role) as iam:
        inject(iam, "PutRolePolicy", code, status=status)
    with pytest.raises(GrantError) as refused:
        await InlinePolicyGranter(clients, "cab-").grant(access_request(), TARGET, START, END)
    assert (refused.value.code, refused.value.message) == (code, says)
    assert await inline_policies(clients) == before


async def test_access_denied_on_assume_role(aws: str) -> None:
    fresh = AwsClients(region="eu-west-1")
    try:
        async with fresh.client("sts") as sts:
            inject(sts, "AssumeRole", "AccessDenied", status=403)
        with pytest.raises(GrantError) as refused:
            await InlinePolicyGranter(fresh, "cab-").grant(access_request(), TARGET, START, END)
    finally:
        await fresh.close()
    assert refused.value.code == "AccessDenied"
    assert refused.value.message == (
        "The bot cannot assume arn:aws:iam::111111111111:role/bot in account 111111111111 "
        "(AccessDenied): check that role's trust policy allows the bot."
    )


async def test_missing_login_role(clients: AwsClients) -> None:
    with pytest.raises(GrantError) as refused:
        await InlinePolicyGranter(clients, "cab-").grant(
            access_request(login_role="Gone"), TARGET, START, END
        )
    assert (refused.value.code, refused.value.message) == (
        "NoSuchEntity",
        "Login role Gone not found in account 111111111111.",
    )


async def test_unmodifiable_managed_policy_is_a_readable_grant_error(clients: AwsClients) -> None:
    granter = ManagedPolicyGranter(clients)
    first = await granter.grant(access_request(login_role="Ops"), SSO, START, END)
    async with clients.assumed("iam", SSO.iam_role) as iam:
        inject(iam, "CreatePolicyVersion", "UnmodifiableEntity")
    with pytest.raises(GrantError) as refused:
        await granter.grant(access_request(id="ba9876543210", login_role="Ops"), SSO, START, END)
    assert refused.value.code == "UnmodifiableEntity"
    assert refused.value.message.startswith(
        "Policy cloud-access-bot-grants in account 111111111111 cannot be changed through IAM"
    )
    async with clients.assumed("iam", SSO.iam_role) as iam:
        arn = policy_arn(SSO)
        versions = (await iam.list_policy_versions(PolicyArn=arn))["Versions"]
        document = (await iam.get_policy_version(PolicyArn=arn, VersionId="v1"))["PolicyVersion"]
    assert len(versions) == 1
    assert document["Document"] == first.policy_document
