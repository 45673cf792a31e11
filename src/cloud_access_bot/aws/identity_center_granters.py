"""The IAM Identity Center access modes: a permission set assigned, or a group joined, for a while.

``permission_set``: on approval the requester's Identity Center user (found by their Slack
email) gets the request's permission set in the account; at expiry or revocation the
assignment is deleted. Both wait for AWS to report the assignment's status.

Groups (account ``identity-center-groups``): on approval the user is added to the group; at
the end the membership is deleted.

``request_permission_set``: a permission set made for the request (RequestPermissionSetGranter).

Never removing what the bot did not make: before granting, the bot records in its ledger
(aws/identity_center.py) whether the user already had the assignment or membership. Such a
grant is recorded and skipped at the end. Two live requests for the same thing share it: the
first to end leaves it to the other.

What deleting an assignment does not do: end role sessions already issued through the access
portal. Those last until their own expiry (the permission set's session duration, which the
bot does not change for permission sets it did not create). docs/identity-center.md says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from cloud_access_bot.aws.granter import KeyedLocks, Lease, no_lease, where
from cloud_access_bot.aws.identity_center import (
    Assignment,
    AssignmentLedger,
    IdentityCenter,
    LedgerEntry,
    Membership,
)
from cloud_access_bot.aws.session_granter import sized_session_policy
from cloud_access_bot.config import AccountConfig, IdentityCenterConfig
from cloud_access_bot.domain.identity_center import (
    no_identity_center_user,
    request_set_description,
    request_set_name,
    session_duration,
)
from cloud_access_bot.domain.model import AccessRequest, iso, utcnow
from cloud_access_bot.ports import GrantError, GrantResult

#: Recorded instead of a creation request id when the assignment was found already made by
#: this request's earlier, interrupted attempt.
FOUND_ASSIGNED = "found-assigned"
#: The ledger subject's kind for request_permission_set grants (``cab|<account>|<user>``).
REQUEST_SET_SUBJECT = "cab"
#: Identity Center's limit on a permission set's inline policy.
INLINE_POLICY_LIMIT = 32768


class _LedgerGranter:
    """What both modes share: the ledger claim before granting and the careful removal."""

    def __init__(
        self,
        center: IdentityCenter,
        ledger: AssignmentLedger,
        settings: Callable[[], IdentityCenterConfig | None],
        *,
        lease: Lease = no_lease,
        locks: KeyedLocks | None = None,
    ) -> None:
        """``locks``: the runtime's (``granter.KeyedLocks``), shared with reconciliation; a
        granter on its own gets its own."""
        self._center = center
        self._ledger = ledger
        self._settings = settings
        self._lease = lease
        self._locks = KeyedLocks() if locks is None else locks

    async def revoke(self, request: AccessRequest, account: AccountConfig) -> bool:
        """Remove what the bot granted for this request; False when there is nothing of this
        request's to remove (never granted, the user's own, or still used by another)."""
        entry = await self._ledger.get(request.id)
        return entry is not None and await self.release(entry)

    async def release(self, entry: LedgerEntry) -> bool:
        """Remove what ``entry`` records the bot granted (see ``revoke``); reconciliation
        calls this for entries whose request is gone."""
        if entry.preexisting:
            await self._ledger.forget(entry.request_id)
            return False
        center = self.settings()
        async with self._locks.hold(self._lease, "idc", entry.subject):
            shared = await self._ledger.holders(entry.subject, other_than=entry.request_id)
            if not shared:
                await self._remove(center, entry)
            await self._ledger.forget(entry.request_id)
        return not shared

    async def _remove(self, center: IdentityCenterConfig, entry: LedgerEntry) -> None:
        raise NotImplementedError

    async def _claim(
        self, request: AccessRequest, subject: str, exists: Callable[[], Awaitable[bool]]
    ) -> LedgerEntry:
        """Record, once per request, whether the user already had ``subject`` (something
        another live request of the bot made is not the user's own)."""
        async with self._locks.hold(self._lease, "idc", subject):
            had = await exists()
            if had and await self._ledger.holders(subject, other_than=request.id):
                had = False
            return await self._ledger.claim(request.id, subject, had)

    def settings(self) -> IdentityCenterConfig:
        center = self._settings()
        if center is None:
            raise GrantError(
                "identity_center is not configured any more: nothing can be changed there.",
                "NoIdentityCenter",
            )
        return center

    async def _user(self, center: IdentityCenterConfig, request: AccessRequest) -> str:
        user = await self._center.user_id(center, request.requester_email)
        if user is None:
            raise GrantError(
                no_identity_center_user(request.requester_email), "NoIdentityStoreUser"
            )
        return user


class PermissionSetGranter(_LedgerGranter):
    """``ports.Granter`` for ``access_mode: permission_set`` (see the module doc)."""

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        center = self.settings()
        entry = await self._ledger.get(request.id)
        if entry is None:
            wanted = await self._assignment(center, request, account)
            entry = await self._claim(
                request, wanted.key, lambda: self._center.is_assigned(center, wanted)
            )
        assignment = Assignment.from_key(entry.subject)
        creation = entry.creation_request_id
        if not entry.preexisting:
            if not creation:
                # Claimed but not recorded as created: the process may have died right after
                # asking AWS, so look before asking again.
                if await self._center.is_assigned(center, assignment):
                    creation = FOUND_ASSIGNED
                else:
                    creation = await self._center.create_assignment(center, assignment)
                await self._ledger.created(request.id, creation)
            if creation != FOUND_ASSIGNED:
                await self._center.wait_created(center, creation)
        document: dict[str, Any] = {
            "PermissionSet": request.permission_set,
            "PermissionSetArn": assignment.permission_set_arn,
            "AccountId": assignment.account_id,
            "PrincipalType": "USER",
            "PrincipalId": assignment.user_id,
            "AssignmentCreationRequestId": creation,
            "AlreadyAssigned": entry.preexisting,
            "Until": iso(end),
        }
        return GrantResult(
            policy_name=f"permission-set:{request.permission_set}", policy_document=document
        )

    async def _remove(self, center: IdentityCenterConfig, entry: LedgerEntry) -> None:
        await self._center.delete_assignment(center, Assignment.from_key(entry.subject))

    async def _assignment(
        self, center: IdentityCenterConfig, request: AccessRequest, account: AccountConfig
    ) -> Assignment:
        name = request.permission_set or ""
        if account.permission_set(name) is None:
            raise GrantError(
                f"Permission set {name!r} is no longer offered in {where(account)}.",
                "PermissionSetNotOffered",
            )
        found = await self._center.permission_sets(center, [name])
        if not found:
            raise GrantError(
                f"Permission set {name!r} does not exist in IAM Identity Center.",
                "PermissionSetNotFound",
            )
        return Assignment(account.account_number, found[0].arn, await self._user(center, request))


class GroupMembershipGranter(_LedgerGranter):
    """``ports.Granter`` for requests to join an Identity Center group (see the module doc)."""

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        center = self.settings()
        entry = await self._ledger.get(request.id)
        if entry is None:
            wanted = await self._membership(center, request)

            async def is_member() -> bool:
                return bool(await self._center.membership_id(center, wanted))

            entry = await self._claim(request, wanted.key, is_member)
        membership = Membership.from_key(entry.subject)
        membership_id = entry.creation_request_id
        if not entry.preexisting and not membership_id:
            # As for assignments: a membership made by an attempt that died is found, not
            # made twice.
            membership_id = await self._center.membership_id(center, membership)
            if not membership_id:
                membership_id = await self._center.add_member(center, membership)
            await self._ledger.created(request.id, membership_id)
        document = {
            "Group": request.group,
            "GroupId": membership.group_id,
            "UserId": membership.user_id,
            "MembershipId": membership_id,
            "AlreadyMember": entry.preexisting,
            "Until": iso(end),
        }
        return GrantResult(policy_name=f"group:{request.group}", policy_document=document)

    async def _remove(self, center: IdentityCenterConfig, entry: LedgerEntry) -> None:
        if entry.creation_request_id:
            await self._center.remove_membership(center, entry.creation_request_id)

    async def _membership(self, center: IdentityCenterConfig, request: AccessRequest) -> Membership:
        name = request.group or ""
        if name not in center.groups:
            raise GrantError(f"Group {name!r} is no longer offered.", "GroupNotOffered")
        group = await self._center.group_id(center, name)
        if group is None:
            raise GrantError(
                f"Group {name!r} does not exist in IAM Identity Center.", "GroupNotFound"
            )
        return Membership(group, await self._user(center, request))


class RequestPermissionSetGranter(_LedgerGranter):
    """``ports.Granter`` for ``access_mode: request_permission_set``: the request's own
    permission set ``CAB-<request id>``, whose inline policy is exactly the grant (the usual
    statements and ``DateLessThan`` window, without the ``aws:userid`` condition: only this
    user is ever assigned the set), provisioned to the account and assigned to the user. At the
    end the assignment and then the permission set are deleted (deleting the set removes what
    was provisioned). An extension writes the policy with the later window again.

    The ledger records the intent (account, user) before the set is made and its ARN after:
    a set made by a process that died before recording it is found by its name (moto, unlike
    AWS, accepts a second set of the same name, so the name is looked up, not relied on).
    """

    def __init__(
        self,
        center: IdentityCenter,
        ledger: AssignmentLedger,
        settings: Callable[[], IdentityCenterConfig | None],
        *,
        lease: Lease = no_lease,
        clock: Callable[[], datetime] = utcnow,
        locks: KeyedLocks | None = None,
    ) -> None:
        super().__init__(center, ledger, settings, lease=lease, locks=locks)
        self._clock = clock

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        center = self.settings()
        document, text = await sized_session_policy(
            request, start, end, limit=INLINE_POLICY_LIMIT, what="permission set policy"
        )
        entry = await self._ledger.get(request.id)
        # An entry without an ARN from an earlier attempt: that attempt may have made the set.
        retried = entry is not None
        if entry is None:
            subject = f"{REQUEST_SET_SUBJECT}|{account.account_number}|"
            subject += await self._user(center, request)
            entry = await self._ledger.claim(request.id, subject, False)
        _, account_id, user = entry.subject.split("|", 2)
        duration = session_duration(self._clock(), end)
        description = request_set_description(request, end)
        arn = entry.creation_request_id
        if not arn and retried:
            arn = await self._center.find_permission_set(center, request_set_name(request.id))
        if not arn:
            arn = await self._create(center, request, description, duration)
        if arn != entry.creation_request_id:
            await self._ledger.created(request.id, arn)
        await self._center.write_permission_set(
            center, arn, text, duration, description, account_id
        )
        assignment = Assignment(account_id, arn, user)
        if not await self._center.is_assigned(center, assignment):
            creation = await self._center.create_assignment(center, assignment)
            await self._center.wait_created(center, creation)
        return GrantResult(policy_name=request_set_name(request.id), policy_document=document)

    async def _create(
        self, center: IdentityCenterConfig, request: AccessRequest, description: str, duration: str
    ) -> str:
        """Make the request's permission set, within the instance's quota."""
        name = request_set_name(request.id)
        if await self._center.count_permission_sets(center) >= center.permission_set_quota:
            raise GrantError(
                f"IAM Identity Center holds {center.permission_set_quota} permission sets, "
                "its quota (identity_center.permission_set_quota): no permission set can be "
                "made for this request until others end.",
                "CapacityExceeded",
            )
        tags = {"managed-by": "cloud-access-bot", "request-id": request.id}
        return await self._center.create_permission_set(center, name, description, duration, tags)

    async def _remove(self, center: IdentityCenterConfig, entry: LedgerEntry) -> None:
        _, account_id, user = entry.subject.split("|", 2)
        name = request_set_name(entry.request_id)
        arn = entry.creation_request_id or await self._center.find_permission_set(center, name)
        if arn:
            await self._center.delete_assignment(center, Assignment(account_id, arn, user))
            await self._center.delete_permission_set(center, arn)
