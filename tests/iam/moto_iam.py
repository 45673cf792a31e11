"""moto's server with IAM authorization on, and what its evaluator needs to judge the bot's
policies as AWS would.

moto checks every request against the caller's identity policies once more requests than
``INITIAL_NO_AUTH_ACTION_COUNT`` were served (``POST /moto-api/reset-auth`` sets it and restarts
the count). Its evaluator compares only actions and resources, ignores conditions (a Deny with
a condition always applies), and does not evaluate session policies or permissions boundaries.
For the calls the bot makes it also lacks a few inputs; ``teach_moto`` adds them, each making
moto *stricter* or closer to AWS, never more permissive than AWS:

- the resource ARN AWS authorizes DynamoDB calls against (the table or index; moto passes
  ``*``, which only a ``Resource: "*"`` statement matches), IAM policy calls (the policy) and
  Organizations ``ListTagsForResource`` on an account (the account);
- ``TransactWriteItems``, which is no IAM action: AWS authorizes each item's PutItem,
  UpdateItem, DeleteItem or ConditionCheckItem on its table; ``BatchGetItem`` on the table
  its ``RequestItems`` name;
- ``NotResource`` (moto treats a statement without ``Resource`` as a trust-policy statement
  and answers PERMITTED, even for a Deny);
- a role ARN in a trust policy's ``Principal`` matches that role's sessions (moto compares the
  caller's session ARN literally);
- Lambda requests are authorized without checking their signature, which moto's server
  computes over another path than botocore signs (every Lambda call fails with
  SignatureDoesNotMatch, even an administrator's).

``DENIALS`` records every refusal (principal, action, resource) so that a test can name what was
denied, also where the bot turns AccessDenied into a message or an empty resource list.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase, PermissionResult
from moto.iam.responses import IamResponse
from moto.organizations.responses import OrganizationsResponse


@dataclass(frozen=True)
class Denial:
    principal: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.principal} was denied {self.action} on {self.resource}"


DENIALS: list[Denial] = []

_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_SESSION = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")


def _table_arn(handler: DynamoHandler, table: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _dynamodb_resource(self: DynamoHandler) -> str:
    body = getattr(self, "body", None) or {}
    # BatchGetItem names its tables in RequestItems (the bot reads one table at a time).
    table = body.get("TableName") or next(iter(body.get("RequestItems") or {}), None)
    return _table_arn(self, table, body.get("IndexName")) if table else "*"


def _authorize_dynamodb(original: Callable[..., None]) -> Callable[..., None]:
    def authorize(self: DynamoHandler, resource: str = "*") -> None:
        if self._get_action() != "TransactWriteItems":
            return original(self, resource)
        for entry in (getattr(self, "body", None) or {}).get("TransactItems", []):
            kind, operation = next(iter(entry.items()))
            self._get_action = functools.partial(str, _TRANSACT_ACTIONS[kind])  # type: ignore[method-assign]
            try:
                original(self, _table_arn(self, operation["TableName"]))
            finally:
                del self._get_action
        return None

    return authorize


def _iam_resource(original: Callable[[IamResponse], str]) -> Callable[[IamResponse], str]:
    def resource(self: IamResponse) -> str:
        data = self.data
        if "PolicyArn" in data:
            return str(data["PolicyArn"][0])
        if self._get_action() == "CreatePolicy":
            path = data.get("Path", ["/"])[0]
            return f"arn:aws:iam::{self.current_account}:policy{path}{data['PolicyName'][0]}"
        return original(self)

    return resource


def _not_resource(original: Callable[..., PermissionResult]) -> Callable[..., PermissionResult]:
    def is_action_permitted(
        self: IAMPolicyStatement, action: str, resource: str = "*", *args: Any, **kwargs: Any
    ) -> PermissionResult:
        statement = self._statement
        if "NotResource" not in statement:
            return original(self, action, resource, *args, **kwargs)
        if self._check_element_matches("NotResource", resource):
            return PermissionResult.NEUTRAL
        as_resource = {k: v for k, v in statement.items() if k != "NotResource"} | {"Resource": "*"}
        return original(IAMPolicyStatement(as_resource), action, resource, *args, **kwargs)

    return is_action_permitted


def _role_sessions(original: Callable[[IAMPolicyStatement, str], bool]) -> Callable[..., bool]:
    def check_principal(self: IAMPolicyStatement, principal: str) -> bool:
        if original(self, principal):
            return True
        session = _SESSION.match(principal)
        if session is None:
            return False
        partition, account, role = session.groups()
        return original(self, f"arn:{partition}:iam::{account}:role/{role}")

    return check_principal


def _recording(original: Callable[..., None]) -> Callable[..., None]:
    def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
        try:
            original(self, resource)
        except Exception:
            DENIALS.append(Denial(self._access_key.arn, self._action, resource))
            raise

    return check_action_permitted


def _lambda_unsigned(original: Callable[[IAMRequestBase], None]) -> Callable[..., None]:
    def check_signature(self: IAMRequestBase) -> None:
        if self._service != "lambda":
            original(self)

    return check_signature


def _organizations_resource(self: OrganizationsResponse) -> str:
    resource_id = str(self._get_param("ResourceId") or "")
    org = self.organizations_backend.org
    if self._get_action() != "ListTagsForResource" or org is None or not resource_id.isdigit():
        return "*"
    return f"arn:aws:organizations::{org.master_account_id}:account/{org.id}/{resource_id}"


@contextmanager
def teach_moto() -> Iterator[None]:
    """The additions of the module doc, undone on exit."""
    patches: list[tuple[type, str, Any]] = [
        (DynamoHandler, "_determine_resource", _dynamodb_resource),
        (
            DynamoHandler,
            "_authenticate_and_authorize_normal_action",
            _authorize_dynamodb(ActionAuthenticatorMixin._authenticate_and_authorize_normal_action),
        ),
        (IamResponse, "_determine_resource", _iam_resource(IamResponse._determine_resource)),
        (OrganizationsResponse, "_determine_resource", _organizations_resource),
        (
            IAMPolicyStatement,
            "is_action_permitted",
            _not_resource(IAMPolicyStatement.is_action_permitted),
        ),
        (
            IAMPolicyStatement,
            "_check_principal",
            _role_sessions(IAMPolicyStatement._check_principal),
        ),
        (IAMRequestBase, "check_signature", _lambda_unsigned(IAMRequestBase.check_signature)),
        (
            IAMRequestBase,
            "check_action_permitted",
            _recording(IAMRequestBase.check_action_permitted),
        ),
    ]
    saved = [(cls, name, cls.__dict__.get(name)) for cls, name, _ in patches]
    for cls, name, replacement in patches:
        setattr(cls, name, replacement)
    try:
        yield
    finally:
        for cls, name, before in saved:
            if before is None:
                delattr(cls, name)
            else:
                setattr(cls, name, before)


def set_enforcement(endpoint: str, *, after: float) -> None:
    """Enforce IAM for every request after the next ``after`` ones (``inf``: never)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=str(after).encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        json.load(answer)
