"""The inline_policy access mode: a time-bounded inline policy on the requester's login role.

In the target account (reached by assuming the account's ``iam_role``) the bot writes one
inline policy per request, named ``<prefix><request id>``, whose statements match only the
requester's session (``aws:userid = <RoleId>:<email>``) within the approved window, so IAM ends
the access on time even if the bot is down. IAM allows 10,240 characters (whitespace excluded)
of inline policies per role in total and moto enforces none of it, so the bot checks the
remaining room itself before writing.

Throttling and outages that outlast botocore's retries are not GrantErrors: they propagate, the
request stays APPROVED and the sweeper's recovery tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError, error_code, error_message, is_unavailable
from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.domain.policy import build_grant_policy, policy_json, policy_size
from cloud_access_bot.ports import GrantError, GrantResult

T = TypeVar("T")

#: IAM's quota for all inline policies of one role together (whitespace not counted).
ROLE_INLINE_POLICY_LIMIT = 10_240
#: The path of IAM Identity Center roles, which only IAM Identity Center may change.
SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/"


def _where(account: AccountConfig) -> str:
    alias = f" ({account.account_alias})" if account.account_alias else ""
    return f"account {account.account_number}{alias}"


def grant_error(exc: ClientError, role: str, account: AccountConfig) -> GrantError:
    """A readable GrantError for what IAM refused while acting on ``role``."""
    code = error_code(exc)
    detail = error_message(exc)
    where = _where(account)
    messages = {
        "AccessDenied": f"The bot's role {account.iam_role} is not allowed to change role "
        f"{role} in {where}: {detail}",
        "LimitExceeded": f"IAM refused: role {role} in {where} reached an IAM quota ({detail}).",
        "MalformedPolicyDocument": f"IAM rejected the policy for role {role} in {where}: {detail}",
        "UnmodifiableEntity": f"Role {role} in {where} cannot be changed through IAM (IAM "
        "Identity Center roles need access_mode: managed_policy for this account).",
        "NoSuchEntity": f"Login role {role} not found in {where}.",
    }
    messages["AccessDeniedException"] = messages["AccessDenied"]
    text = messages.get(code, f"IAM refused the change to role {role} in {where}: {code}: {detail}")
    return GrantError(text, code or "IamError")


class InlinePolicyGranter:
    def __init__(self, clients: AwsClients, policy_name_prefix: str) -> None:
        self._clients = clients
        self._prefix = policy_name_prefix

    def policy_name(self, request: AccessRequest) -> str:
        return f"{self._prefix}{request.id}"

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        name = self.policy_name(request)

        async def put(iam: Any) -> GrantResult:
            role_id = await self._login_role_id(iam, request.login_role, account)
            try:
                document = build_grant_policy(
                    request.services,
                    userid=f"{role_id}:{request.requester_email}",
                    not_before=start,
                    not_after=end,
                    sid=request.id,
                )
            except ValueError as exc:
                reason = f"The policy for this request cannot be built: {exc}"
                raise GrantError(reason, "InvalidGrant") from exc
            needed = policy_size(document)
            await self._check_capacity(iam, request.login_role, account, name, needed)
            await iam.put_role_policy(
                RoleName=request.login_role, PolicyName=name, PolicyDocument=policy_json(document)
            )
            return GrantResult(policy_name=name, policy_document=document)

        return await self._in_account(account, request.login_role, put)

    async def revoke(self, request: AccessRequest, account: AccountConfig) -> bool:
        name = request.policy_name or self.policy_name(request)

        async def delete(iam: Any) -> bool:
            try:
                await iam.delete_role_policy(RoleName=request.login_role, PolicyName=name)
            except ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    return False
                raise
            return True

        return await self._in_account(account, request.login_role, delete)

    async def _login_role_id(self, iam: Any, role: str, account: AccountConfig) -> str:
        """The RoleId of the login role (looked up each time: it changes if the role is
        recreated); refuses roles IAM will not let the bot change."""
        try:
            found = (await iam.get_role(RoleName=role))["Role"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                raise GrantError(
                    f"Login role {role} not found in {_where(account)}.", "NoSuchEntity"
                ) from exc
            raise
        if str(found.get("Path", "")).startswith(SSO_ROLE_PATH):
            raise GrantError(
                f"Login role {role} in {_where(account)} is an IAM Identity Center role, which "
                "only IAM Identity Center may change: set access_mode: managed_policy for this "
                "account and reference the bot's policy from the permission set.",
                "UnmodifiableEntity",
            )
        return str(found["RoleId"])

    async def _check_capacity(
        self, iam: Any, role: str, account: AccountConfig, name: str, needed: int
    ) -> None:
        """Refuse before writing if the role's inline policies would exceed IAM's quota.

        A policy with this grant's name is replaced by the write, so it does not count.
        """
        names: list[str] = []
        async for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
            names.extend(n for n in page["PolicyNames"] if n != name)
        documents = await asyncio.gather(
            *(iam.get_role_policy(RoleName=role, PolicyName=n) for n in names)
        )
        # botocore hands the documents back decoded into dicts.
        used = sum(policy_size(d["PolicyDocument"]) for d in documents)
        left = ROLE_INLINE_POLICY_LIMIT - used
        if needed > left:
            raise GrantError(
                f"Role {role} in {_where(account)} has {max(left, 0)} chars left for inline "
                f"policies, this grant needs {needed} (IAM allows {ROLE_INLINE_POLICY_LIMIT} per "
                "role). Ask for fewer actions or resources, or wait for other grants to expire.",
                "CapacityExceeded",
            )

    async def _in_account(
        self, account: AccountConfig, role: str, work: Callable[[Any], Awaitable[T]]
    ) -> T:
        """Run ``work`` with IAM in the target account; IAM refusals become GrantErrors."""
        try:
            return await self._clients.with_assumed("iam", account.iam_role, work)
        except AssumeRoleError as exc:
            raise GrantError(
                f"The bot cannot assume {exc.role_arn} in {_where(account)} ({exc.code}): check "
                "that role's trust policy allows the bot.",
                exc.code or "AssumeRoleFailed",
            ) from exc
        except ClientError as exc:
            if is_unavailable(exc):
                raise
            raise grant_error(exc, role, account) from exc
