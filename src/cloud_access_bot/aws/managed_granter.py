"""The managed_policy access mode, for IAM Identity Center accounts.

IAM Identity Center roles (``AWSReservedSSO_<PermissionSet>_<id>`` under
``/aws-reserved/sso.amazonaws.com/``) refuse every IAM change, but a permission set may
reference a customer managed policy by name and path, and that policy is an ordinary one in the
member account. The bot keeps every active grant of the account as statements of that policy
(``AccountConfig.managed_policy_name`` at ``managed_policy_path``), each scoped to the
requester's session (``<SSO role's RoleId>:<email>``) and window, creating the policy with the
first grant.

A change is a new default policy version (after deleting the oldest non-default one when IAM's
five are all kept), a read-modify-write serialised per (account, policy) by the same process-wide
locks as the inline granter; after writing, the bot re-reads the default version and writes
again if another writer replaced it (see aws/granter.py about several replicas). IAM allows
6,144 chars per managed policy, checked before writing. With no grant left the policy keeps a
statement that grants nothing: IAM refuses a policy without statements, and a permission set
whose policy disappeared fails to provision.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import error_code
from cloud_access_bot.aws.granter import (
    MAX_POLICY_VERSIONS,
    POLICY_DESCRIPTION,
    SSO_ROLE_PATH,
    WRITE_ATTEMPTS,
    Document,
    FoundGrant,
    KeyedLocks,
    Lease,
    capacity_error,
    checked_document,
    in_account,
    no_lease,
    policy_document,
    version_to_prune,
    where,
)
from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain import packing
from cloud_access_bot.domain.activity import sso_role_name
from cloud_access_bot.domain.model import AccessRequest, utcnow
from cloud_access_bot.domain.policy import policy_json
from cloud_access_bot.ports import GrantError, GrantResult


def policy_arn(account: AccountConfig) -> str:
    partition = account.iam_role.split(":")[1]
    name = f"{account.managed_policy_path}{account.managed_policy_name}"
    return f"arn:{partition}:iam::{account.account_number}:policy{name}"


class ManagedPolicyGranter:
    def __init__(
        self,
        clients: AwsClients,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: Lease = no_lease,
        locks: KeyedLocks | None = None,
    ) -> None:
        """``lease``: held around every change of a policy, so replicas take turns;
        ``locks``: the runtime's (``granter.KeyedLocks``), else its own."""
        self._clients = clients
        self._clock = clock
        self._locks = KeyedLocks() if locks is None else locks
        self._lease = lease

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        name = account.managed_policy_name

        async def put(iam: Any) -> GrantResult:
            role_id = await self._sso_role_id(iam, request.login_role, account)
            document = await checked_document(
                request, f"{role_id}:{request.requester_email}", start, end, account=account
            )

            def add(current: Document | None) -> Document:
                written, room = packing.plan_managed_grant(current, document)
                if not room.fits:
                    others, _ = packing.without_grant(current or {}, request.id)
                    raise capacity_error(
                        f"Policy {name} in {where(account, request.account_name)}",
                        room,
                        packing.MANAGED_POLICY_LIMIT,
                        packing.grant_ends([others]),
                        self._clock(),
                    )
                return written

            await self._update(iam, account, add)
            return GrantResult(policy_name=name, policy_document=document)

        return await in_account(self._clients, account, request.login_role, put, policy=name)

    async def revoke(self, request: AccessRequest, account: AccountConfig) -> bool:
        return bool(await self.remove_grants(account, {request.id}))

    async def find_grants(self, account: AccountConfig) -> list[FoundGrant]:
        """Every grant the account's managed policy holds (none if it does not exist)."""

        async def read(iam: Any) -> list[FoundGrant]:
            return self._found(account, await policy_document(iam, policy_arn(account)))

        name = account.managed_policy_name
        return await in_account(self._clients, account, "", read, policy=name)

    async def remove_grants(
        self, account: AccountConfig, request_ids: Collection[str]
    ) -> list[FoundGrant]:
        """A new policy version without these requests' statements; what was removed."""
        removed: list[FoundGrant] = []

        def drop(current: Document | None) -> Document | None:
            removed[:] = [g for g in self._found(account, current) if g.request_id in request_ids]
            if not removed or current is None:
                return None
            kept, _ = packing.without_grants(current, request_ids)
            return packing.managed_document(kept)

        async def remove(iam: Any) -> list[FoundGrant]:
            await self._update(iam, account, drop)
            return list(removed)

        name = account.managed_policy_name
        return await in_account(self._clients, account, "", remove, policy=name)

    def _found(self, account: AccountConfig, document: Document | None) -> list[FoundGrant]:
        ends = packing.grant_ends([document])
        name = account.managed_policy_name
        return [FoundGrant(rid, "", name, end) for rid, end in sorted(ends.items())]

    async def _update(
        self,
        iam: Any,
        account: AccountConfig,
        change: Callable[[Document | None], Document | None],
    ) -> None:
        """Write ``change(current)`` as the policy's default version (nothing when it returns
        None), until a re-read shows it in place."""
        arn = policy_arn(account)
        async with self._locks.hold(self._lease, account.account_number, "policy", arn):
            for _ in range(WRITE_ATTEMPTS):
                current = await policy_document(iam, arn)
                written = change(current)
                if written is None:
                    return
                if current is None:
                    created = await self._create(iam, account, written)
                else:
                    created = await self._new_version(iam, arn, written)
                if created and await policy_document(iam, arn) == written:
                    return
        raise GrantError(
            f"Another writer kept replacing policy {account.managed_policy_name} in "
            f"{where(account)}; nothing was changed. Try again.",
            "ConcurrentUpdate",
        )

    async def _sso_role_id(self, iam: Any, login_role: str, account: AccountConfig) -> str:
        """The RoleId of ``login_role``, an IAM role name or a permission set name."""
        try:
            return str((await iam.get_role(RoleName=login_role))["Role"]["RoleId"])
        except ClientError as exc:
            # IAM authorizes GetRole before looking the role up: a permission set's name is
            # outside the roles the bot may read (AWSReservedSSO_<name>_*), so AccessDenied.
            if error_code(exc) not in ("NoSuchEntity", "AccessDenied"):
                raise
        pattern = sso_role_name(login_role)
        found: list[dict[str, Any]] = []
        async for page in iam.get_paginator("list_roles").paginate(PathPrefix=SSO_ROLE_PATH):
            found.extend(r for r in page["Roles"] if pattern.fullmatch(r["RoleName"]))
        if len(found) != 1:
            problem = "No" if not found else f"{len(found)} roles match; expected one"
            raise GrantError(
                f"{problem} IAM Identity Center role for permission set {login_role} in "
                f"{where(account)} (a role named AWSReservedSSO_{login_role}_<id> under "
                f"{SSO_ROLE_PATH}): is the permission set assigned to this account?",
                "NoSuchEntity",
            )
        return str(found[0]["RoleId"])

    async def _create(self, iam: Any, account: AccountConfig, document: Mapping[str, Any]) -> bool:
        """Create the policy; False if someone else just did (the caller reads it again)."""
        try:
            await iam.create_policy(
                PolicyName=account.managed_policy_name,
                Path=account.managed_policy_path,
                PolicyDocument=policy_json(document),
                Description=POLICY_DESCRIPTION,
            )
        except ClientError as exc:
            if error_code(exc) == "EntityAlreadyExists":
                return False
            raise
        return True

    async def _new_version(self, iam: Any, arn: str, document: Mapping[str, Any]) -> bool:
        """A new default version, pruning the oldest non-default one first when IAM's five
        are kept; False if another writer filled the slot first (the caller retries)."""
        stale = version_to_prune(await self._versions(iam, arn))
        if stale:
            try:
                await iam.delete_policy_version(PolicyArn=arn, VersionId=stale)
            except ClientError as exc:
                if error_code(exc) != "NoSuchEntity":
                    raise
        try:
            await iam.create_policy_version(
                PolicyArn=arn, PolicyDocument=policy_json(document), SetAsDefault=True
            )
        except ClientError as exc:
            # A quota other than the version count (the size, checked before) is an error.
            if error_code(exc) == "LimitExceeded" and (
                len(await self._versions(iam, arn)) >= MAX_POLICY_VERSIONS
            ):
                return False
            raise
        return True

    async def _versions(self, iam: Any, arn: str) -> list[dict[str, Any]]:
        return list((await iam.list_policy_versions(PolicyArn=arn))["Versions"])
