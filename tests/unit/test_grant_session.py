"""Which CloudTrail events are a grant's own session (domain.activity.of_grant), on records
as CloudTrail writes them: the requester's session name is theirs in every role."""

from __future__ import annotations

import json
from typing import Any

from cloud_access_bot.domain.activity import grant_role, of_grant, trail_event
from cloud_access_bot.domain.rules import AccessMode
from tests.factories import access_request

ACCOUNT = "111111111111"


def assumed_role(role: str, path: str = "/", *, account: str = ACCOUNT) -> dict[str, Any]:
    """userIdentity of an assumed-role session named alice@example.com, as CloudTrail logs it."""
    return {
        "type": "AssumedRole",
        "principalId": "AROA3EXAMPLEROLEID:alice@example.com",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/alice@example.com",
        "accountId": account,
        "accessKeyId": "ASIA3EXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROA3EXAMPLEROLEID",
                "arn": f"arn:aws:iam::{account}:role{path}{role}",
                "accountId": account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-12-01T09:58:12Z", "mfaAuthenticated": "false"},
        },
    }


def event(identity: dict[str, Any]) -> str:
    return json.dumps(
        {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": "2026-12-01T10:02:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "ListBuckets",
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.7",
            "eventID": "3e5b2c1a-0000-4000-8000-000000000001",
            "readOnly": True,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        }
    )


SSO = "/aws-reserved/sso.amazonaws.com/eu-west-1/"


def belongs(
    identity: dict[str, Any], mode: AccessMode, broker: str | None = None, **req: Any
) -> bool:
    request = access_request(**req)
    return of_grant(trail_event(event(identity)), grant_role(request, mode, broker), ACCOUNT)


def test_a_login_role_grant_is_its_login_roles_session_only() -> None:
    assert belongs(assumed_role("Developer"), AccessMode.INLINE_POLICY)
    # The requester's own SSO role, the same session name in the same window: not the grant.
    mine = assumed_role("AWSReservedSSO_AdministratorAccess_0a1b2c3d4e5f6a7b", SSO)
    assert not belongs(mine, AccessMode.INLINE_POLICY)
    assert not belongs(assumed_role("Developer", account="222222222222"), AccessMode.INLINE_POLICY)
    assert not belongs(assumed_role("DeveloperAdmin"), AccessMode.INLINE_POLICY)


def test_a_managed_policy_grant_on_a_permission_sets_role_matches_that_role_only() -> None:
    role = "AWSReservedSSO_DataScientist_1a2b3c4d5e6f7a8b"
    assert belongs(assumed_role(role, SSO), AccessMode.MANAGED_POLICY, login_role="DataScientist")
    other = assumed_role("AWSReservedSSO_DataScientistAdmin_1a2b3c4d5e6f7a8b", SSO)
    assert not belongs(other, AccessMode.MANAGED_POLICY, login_role="DataScientist")
    assert not belongs(other, AccessMode.INLINE_POLICY, login_role="DataScientist")


def test_session_credentials_are_the_broker_roles_sessions() -> None:
    broker = f"arn:aws:iam::{ACCOUNT}:role/brokers/access-broker"
    broker_session = assumed_role("access-broker", "/brokers/")
    assert belongs(broker_session, AccessMode.SESSION_CREDENTIALS, broker)
    assert not belongs(assumed_role("Developer"), AccessMode.SESSION_CREDENTIALS, broker)


def test_a_permission_set_grant_is_that_permission_sets_identity_center_role() -> None:
    role = assumed_role("AWSReservedSSO_ReadOnly_9f8e7d6c5b4a3f2e", SSO)
    assert belongs(role, AccessMode.PERMISSION_SET, permission_set="ReadOnly", services=())
    assert not belongs(role, AccessMode.PERMISSION_SET, permission_set="Billing", services=())


def test_the_role_is_read_from_the_session_arn_when_no_session_context_is_logged() -> None:
    identity = assumed_role("Developer")
    del identity["sessionContext"]
    assert belongs(identity, AccessMode.INLINE_POLICY)
    identity["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/Other/alice@example.com"
    assert not belongs(identity, AccessMode.INLINE_POLICY)


def test_an_iam_user_of_the_same_name_is_never_the_grant() -> None:
    user = {
        "type": "IAMUser",
        "principalId": "AIDA3EXAMPLEUSERID",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice@example.com",
        "accountId": ACCOUNT,
        "userName": "alice@example.com",
    }
    assert not belongs(user, AccessMode.INLINE_POLICY)
