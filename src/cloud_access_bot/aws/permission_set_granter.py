"""The permission_set access mode: an existing permission set assigned to the user for a while.

On approval the requester's Identity Center user (looked up by their Slack email) gets the
request's permission set in the account; at expiry or revocation the assignment is deleted.
Both wait for AWS to report the assignment's status (aws/identity_center.py).

Never removing what the bot did not make: before assigning, the bot records in its ledger
whether the user already had the assignment. Such a grant is recorded and skipped at the end.
Two live requests for the same assignment share it: the first to end leaves it to the other.

What deleting an assignment does not do: end role sessions already issued through the access
portal. Those last until their own expiry (the permission set's session duration, which the
bot does not change for permission sets it did not create). docs/identity-center.md says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cloud_access_bot.aws.granter import KeyedLocks, Lease, no_lease, where
from cloud_access_bot.aws.identity_center import Assignment, AssignmentLedger, IdentityCenter
from cloud_access_bot.config import AccountConfig, IdentityCenterConfig
from cloud_access_bot.domain.identity_center import no_identity_center_user
from cloud_access_bot.domain.model import AccessRequest, iso
from cloud_access_bot.ports import GrantError, GrantResult

#: Recorded instead of a creation request id when the assignment was found already made by
#: this request's earlier, interrupted attempt.
FOUND_ASSIGNED = "found-assigned"


class PermissionSetGranter:
    """``ports.Granter`` for ``access_mode: permission_set`` (see the module doc)."""

    def __init__(
        self,
        center: IdentityCenter,
        ledger: AssignmentLedger,
        settings: Callable[[], IdentityCenterConfig | None],
        *,
        lease: Lease = no_lease,
    ) -> None:
        self._center = center
        self._ledger = ledger
        self._settings = settings
        self._lease = lease
        self._locks = KeyedLocks()

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        center = self._require_settings()
        entry = await self._ledger.get(request.id)
        if entry is None:
            assignment = await self._assignment(center, request, account)
            async with self._locks.hold(self._lease, "idc", assignment.key):
                had = await self._center.is_assigned(center, assignment)
                # An assignment another live request of the bot made is not the user's own.
                if had and await self._ledger.holders(assignment, other_than=request.id):
                    had = False
                entry = await self._ledger.claim(request.id, assignment, had)
        creation = entry.creation_request_id
        if not entry.preexisting:
            if not creation:
                # Claimed but not recorded as created: the process may have died right after
                # asking AWS, so look before asking again.
                if await self._center.is_assigned(center, entry.assignment):
                    creation = FOUND_ASSIGNED
                else:
                    creation = await self._center.create_assignment(center, entry.assignment)
                await self._ledger.created(request.id, creation)
            if creation != FOUND_ASSIGNED:
                await self._center.wait_created(center, creation)
        document: dict[str, Any] = {
            "PermissionSet": request.permission_set,
            "PermissionSetArn": entry.assignment.permission_set_arn,
            "AccountId": entry.assignment.account_id,
            "PrincipalType": "USER",
            "PrincipalId": entry.assignment.user_id,
            "AssignmentCreationRequestId": creation,
            "AlreadyAssigned": entry.preexisting,
            "Until": iso(end),
        }
        return GrantResult(
            policy_name=f"permission-set:{request.permission_set}", policy_document=document
        )

    async def revoke(self, request: AccessRequest, account: AccountConfig) -> bool:
        """Delete the assignment the bot made for this request (and wait for AWS); False when
        there is nothing of this request's to delete."""
        entry = await self._ledger.get(request.id)
        if entry is None or entry.released:
            return False
        if entry.preexisting:
            await self._ledger.released(request.id)
            return False
        center = self._require_settings()
        async with self._locks.hold(self._lease, "idc", entry.assignment.key):
            shared = await self._ledger.holders(entry.assignment, other_than=request.id)
            if not shared:
                await self._center.delete_assignment(center, entry.assignment)
            await self._ledger.released(request.id)
        return not shared

    def _require_settings(self) -> IdentityCenterConfig:
        center = self._settings()
        if center is None:
            raise GrantError(
                "identity_center is not configured any more: the grant cannot be written.",
                "NoIdentityCenter",
            )
        return center

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
        user = await self._center.user_id(center, request.requester_email)
        if user is None:
            raise GrantError(
                no_identity_center_user(request.requester_email), "NoIdentityStoreUser"
            )
        return Assignment(account.account_number, found[0].arn, user)
