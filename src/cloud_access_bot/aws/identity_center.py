"""IAM Identity Center: users, permission sets and account assignments (sso-admin, identitystore).

Every call runs in the Identity Center account (management or delegated administrator) through
``identity_center.iam_role``. Account assignments are asynchronous at AWS: create and delete
return a request id whose status is polled until SUCCEEDED or FAILED. A status still
IN_PROGRESS after ``poll_timeout`` is GrantUnavailable (the request stays APPROVED and the
sweeper asks again, continuing from the recorded request id); FAILED is a GrantError with
AWS's reason.

AWS does not say who made an assignment, so the bot keeps its own ledger of the assignments it
made (``AssignmentLedger``): one item per request in the bot's table, written *before*
CreateAccountAssignment with whether the user already had the assignment, and updated with the
creation request id after. A process that dies in between finds the item on its next attempt
and finishes the same assignment; an assignment the user had before is recorded as such and
never deleted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError, error_code, error_message, is_unavailable
from cloud_access_bot.config import AccessMode, AccountConfig, IdentityCenterConfig, UserMatch
from cloud_access_bot.ports import GrantError, GrantUnavailable, TargetOffer

T = TypeVar("T")

#: Seconds between two looks at an assignment's creation or deletion status.
POLL_INTERVAL_S = 1.0
#: How long a grant waits for AWS to finish an assignment before leaving it to the sweeper.
POLL_TIMEOUT_S = 60.0
#: How long permission set names and descriptions are reused (the modal asks on every open).
CATALOG_TTL_S = 60.0
#: The ledger's partition in the bot's table (one partition: reconciliation queries it).
LEDGER_PK = "IDC#ASSIGNMENTS"


async def or_missing(call: Awaitable[T], missing: T) -> T:
    """What ``call`` returns, or ``missing`` when AWS says the thing does not exist."""
    try:
        return await call
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return missing
        raise


@dataclass(frozen=True)
class PermissionSet:
    name: str
    arn: str
    description: str = ""


@dataclass(frozen=True)
class Assignment:
    """A permission set assigned to one Identity Center user in one account."""

    account_id: str
    permission_set_arn: str
    user_id: str

    @property
    def key(self) -> str:
        return f"{self.account_id}|{self.permission_set_arn}|{self.user_id}"

    @classmethod
    def from_key(cls, key: str) -> Assignment:
        account_id, permission_set_arn, user_id = key.split("|", 2)
        return cls(account_id, permission_set_arn, user_id)

    def params(self, instance_arn: str) -> dict[str, str]:
        return {
            "InstanceArn": instance_arn,
            "TargetId": self.account_id,
            "TargetType": "AWS_ACCOUNT",
            "PermissionSetArn": self.permission_set_arn,
            "PrincipalType": "USER",
            "PrincipalId": self.user_id,
        }


@dataclass(frozen=True)
class Membership:
    """One Identity Center user in one group."""

    group_id: str
    user_id: str

    @property
    def key(self) -> str:
        return f"group|{self.group_id}|{self.user_id}"

    @classmethod
    def from_key(cls, key: str) -> Membership:
        _, group_id, user_id = key.split("|", 2)
        return cls(group_id, user_id)


class IdentityCenter:
    """The sso-admin and identitystore calls the Identity Center granters need."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        poll_interval: float = POLL_INTERVAL_S,
        poll_timeout: float = POLL_TIMEOUT_S,
    ) -> None:
        self.clients = clients
        self._poll_interval = poll_interval
        self._poll_timeout = poll_timeout
        self._catalog: dict[str, tuple[float, dict[str, PermissionSet]]] = {}

    async def user_id(self, center: IdentityCenterConfig, email: str) -> str | None:
        """The Identity Center user of ``email`` (by email, then UserName; see user_match)."""
        paths = (
            ["userName"]
            if center.user_match is UserMatch.USERNAME
            else ["emails.value", "userName"]
        )

        async def lookup(identitystore: Any) -> str | None:
            for path in paths:
                try:
                    answer = await identitystore.get_user_id(
                        IdentityStoreId=center.identity_store_id,
                        AlternateIdentifier={
                            "UniqueAttribute": {"AttributePath": path, "AttributeValue": email}
                        },
                    )
                except ClientError as exc:
                    if error_code(exc) == "ResourceNotFoundException":
                        continue
                    raise
                return str(answer["UserId"])
            return None

        return await self._call(center, "identitystore", lookup)

    async def permission_sets(
        self, center: IdentityCenterConfig, names: Sequence[str]
    ) -> list[PermissionSet]:
        """The permission sets of the instance named in ``names`` (in that order), with their
        descriptions; names Identity Center does not know are left out."""
        cached = self._catalog.get(center.instance_arn)
        if cached is None or time.monotonic() - cached[0] > CATALOG_TTL_S:
            cached = (time.monotonic(), await self._read_catalog(center))
            self._catalog[center.instance_arn] = cached
        return [cached[1][name] for name in names if name in cached[1]]

    async def _read_catalog(self, center: IdentityCenterConfig) -> dict[str, PermissionSet]:
        async def read(sso: Any) -> dict[str, PermissionSet]:
            found: dict[str, PermissionSet] = {}
            pages = sso.get_paginator("list_permission_sets")
            async for page in pages.paginate(InstanceArn=center.instance_arn):
                for arn in page.get("PermissionSets", []):
                    answer = await sso.describe_permission_set(
                        InstanceArn=center.instance_arn, PermissionSetArn=arn
                    )
                    described = answer["PermissionSet"]
                    name = str(described["Name"])
                    found[name] = PermissionSet(name, arn, str(described.get("Description", "")))
            return found

        return await self._call(center, "sso-admin", read)

    async def is_assigned(self, center: IdentityCenterConfig, assignment: Assignment) -> bool:
        async def read(sso: Any) -> bool:
            pages = sso.get_paginator("list_account_assignments")
            async for page in pages.paginate(
                InstanceArn=center.instance_arn,
                AccountId=assignment.account_id,
                PermissionSetArn=assignment.permission_set_arn,
            ):
                for found in page.get("AccountAssignments", []):
                    if (found.get("PrincipalType"), found.get("PrincipalId")) == (
                        "USER",
                        assignment.user_id,
                    ):
                        return True
            return False

        return await self._call(center, "sso-admin", read)

    async def create_assignment(self, center: IdentityCenterConfig, assignment: Assignment) -> str:
        """Ask for the assignment; returns AWS's creation request id (not yet waited for)."""

        async def create(sso: Any) -> str:
            answer = await sso.create_account_assignment(**assignment.params(center.instance_arn))
            return str(answer["AccountAssignmentCreationStatus"]["RequestId"])

        return await self._call(center, "sso-admin", create)

    async def wait_created(self, center: IdentityCenterConfig, request_id: str) -> None:
        await self._wait(center, "creation", request_id)

    async def delete_assignment(self, center: IdentityCenterConfig, assignment: Assignment) -> str:
        """Remove the assignment and wait for AWS to finish; returns the deletion request id
        (``""`` when it was already gone)."""

        async def delete(sso: Any) -> str:
            call = sso.delete_account_assignment(**assignment.params(center.instance_arn))
            answer = await or_missing(call, {"AccountAssignmentDeletionStatus": {"RequestId": ""}})
            return str(answer["AccountAssignmentDeletionStatus"]["RequestId"])

        request_id = await self._call(center, "sso-admin", delete)
        if request_id:
            await self._wait(center, "deletion", request_id)
        return request_id

    async def count_permission_sets(self, center: IdentityCenterConfig) -> int:
        async def count(sso: Any) -> int:
            total = 0
            pages = sso.get_paginator("list_permission_sets")
            async for page in pages.paginate(InstanceArn=center.instance_arn):
                total += len(page.get("PermissionSets", []))
            return total

        return await self._call(center, "sso-admin", count)

    async def find_permission_set(self, center: IdentityCenterConfig, name: str) -> str:
        """The ARN of the permission set named ``name``, read now (``""``: none)."""
        self._catalog.pop(center.instance_arn, None)
        found = await self.permission_sets(center, [name])
        return found[0].arn if found else ""

    async def create_permission_set(
        self,
        center: IdentityCenterConfig,
        name: str,
        description: str,
        session_duration: str,
        tags: dict[str, str],
    ) -> str:
        """Create the permission set; its ARN (the existing one's if the name is taken)."""

        async def create(sso: Any) -> str:
            try:
                answer = await sso.create_permission_set(
                    InstanceArn=center.instance_arn,
                    Name=name,
                    Description=description,
                    SessionDuration=session_duration,
                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                )
            except ClientError as exc:
                if error_code(exc) == "ConflictException":
                    return ""
                raise
            return str(answer["PermissionSet"]["PermissionSetArn"])

        made = await self._call(center, "sso-admin", create)
        return made or await self.find_permission_set(center, name)

    async def write_permission_set(
        self,
        center: IdentityCenterConfig,
        arn: str,
        policy: str,
        session_duration: str,
        description: str,
        account_id: str,
    ) -> None:
        """Set the inline policy, session duration and description, then provision the set to
        the account (again, after a change: an assignment uses what was provisioned last).
        The description is sent again because moto's UpdatePermissionSet clears an omitted one."""

        async def write(sso: Any) -> dict[str, Any]:
            await sso.put_inline_policy_to_permission_set(
                InstanceArn=center.instance_arn, PermissionSetArn=arn, InlinePolicy=policy
            )
            await sso.update_permission_set(
                InstanceArn=center.instance_arn,
                PermissionSetArn=arn,
                SessionDuration=session_duration,
                Description=description,
            )
            answer = await sso.provision_permission_set(
                InstanceArn=center.instance_arn,
                PermissionSetArn=arn,
                TargetType="AWS_ACCOUNT",
                TargetId=account_id,
            )
            return dict(answer["PermissionSetProvisioningStatus"])

        status = await self._call(center, "sso-admin", write)
        if status.get("Status") == "FAILED":
            raise GrantError(
                f"IAM Identity Center could not provision {arn} to {account_id}: "
                f"{status.get('FailureReason', 'no reason given')}",
                "ProvisioningFailed",
            )
        if status.get("Status") != "SUCCEEDED":
            await self._wait(center, "provisioning", str(status.get("RequestId", "")))

    async def delete_permission_set(self, center: IdentityCenterConfig, arn: str) -> None:
        async def delete(sso: Any) -> None:
            call = sso.delete_permission_set(InstanceArn=center.instance_arn, PermissionSetArn=arn)
            await or_missing(call, None)

        await self._call(center, "sso-admin", delete)

    async def group_id(self, center: IdentityCenterConfig, name: str) -> str | None:
        """The id of the group whose DisplayName is ``name`` (None: no such group)."""

        async def lookup(identitystore: Any) -> str | None:
            call = identitystore.get_group_id(
                IdentityStoreId=center.identity_store_id,
                AlternateIdentifier={
                    "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": name}
                },
            )
            answer = await or_missing(call, {"GroupId": None})
            return str(answer["GroupId"]) if answer["GroupId"] else None

        return await self._call(center, "identitystore", lookup)

    async def membership_id(self, center: IdentityCenterConfig, membership: Membership) -> str:
        """The id of the user's membership of the group (``""``: not a member)."""

        async def lookup(identitystore: Any) -> str:
            call = identitystore.get_group_membership_id(
                IdentityStoreId=center.identity_store_id,
                GroupId=membership.group_id,
                MemberId={"UserId": membership.user_id},
            )
            return str((await or_missing(call, {"MembershipId": ""}))["MembershipId"])

        return await self._call(center, "identitystore", lookup)

    async def add_member(self, center: IdentityCenterConfig, membership: Membership) -> str:
        """Add the user to the group; returns the membership id (memberships are immediate)."""

        async def create(identitystore: Any) -> str:
            answer = await identitystore.create_group_membership(
                IdentityStoreId=center.identity_store_id,
                GroupId=membership.group_id,
                MemberId={"UserId": membership.user_id},
            )
            return str(answer["MembershipId"])

        return await self._call(center, "identitystore", create)

    async def remove_membership(self, center: IdentityCenterConfig, membership_id: str) -> None:
        async def delete(identitystore: Any) -> None:
            call = identitystore.delete_group_membership(
                IdentityStoreId=center.identity_store_id, MembershipId=membership_id
            )
            await or_missing(call, None)

        await self._call(center, "identitystore", delete)

    async def _wait(self, center: IdentityCenterConfig, kind: str, request_id: str) -> None:
        """Poll an assignment ``kind`` (creation, deletion) or the permission set provisioning
        until it is no longer IN_PROGRESS (see the module doc for what each outcome means)."""
        if kind == "provisioning":
            operation = "describe_permission_set_provisioning_status"
            parameter, reply = "ProvisionPermissionSetRequestId", "PermissionSetProvisioningStatus"
        else:
            operation = f"describe_account_assignment_{kind}_status"
            parameter = f"AccountAssignment{kind.title()}RequestId"
            reply = f"AccountAssignment{kind.title()}Status"
        give_up = time.monotonic() + self._poll_timeout

        async def status(sso: Any) -> dict[str, Any]:
            answer = await getattr(sso, operation)(
                InstanceArn=center.instance_arn, **{parameter: request_id}
            )
            return dict(answer[reply])

        while True:
            found = await self._call(center, "sso-admin", status)
            if found.get("Status") == "SUCCEEDED":
                return
            if found.get("Status") == "FAILED":
                raise GrantError(
                    f"IAM Identity Center could not finish the {kind} "
                    f"({request_id}): {found.get('FailureReason', 'no reason given')}",
                    f"{kind.title()}Failed",
                )
            if time.monotonic() >= give_up:
                raise GrantUnavailable(
                    f"IAM Identity Center has not finished the {kind} ({request_id}) yet."
                )
            await asyncio.sleep(self._poll_interval)

    async def _call(
        self, center: IdentityCenterConfig, service: str, work: Callable[[Any], Awaitable[T]]
    ) -> T:
        """Run ``work`` in the Identity Center account; refusals become readable GrantErrors,
        throttling and outages GrantUnavailable."""
        try:
            return await self.clients.with_assumed(service, center.iam_role, work, center.region)
        except AssumeRoleError as exc:
            raise GrantError(
                f"The bot cannot assume {exc.role_arn} in the IAM Identity Center account "
                f"({exc.code}): check that role's trust policy allows the bot.",
                exc.code or "AssumeRoleFailed",
            ) from exc
        except (ClientError, BotoCoreError, OSError) as exc:
            if is_unavailable(exc):
                reason = error_code(exc) or type(exc).__name__
                raise GrantUnavailable(f"IAM Identity Center is not answering ({reason}).") from exc
            if isinstance(exc, ClientError):
                raise GrantError(
                    f"IAM Identity Center refused: {error_code(exc)}: {error_message(exc)}",
                    error_code(exc) or "IdentityCenterError",
                ) from exc
            raise


@dataclass(frozen=True)
class LedgerEntry:
    """What the bot recorded about the assignment or membership of one request."""

    request_id: str
    #: What was granted: ``Assignment.key`` or ``Membership.key``.
    subject: str
    #: The user had this before the bot was asked: never delete it.
    preexisting: bool
    #: AWS's assignment creation request id, or the membership id.
    creation_request_id: str = ""


class AssignmentLedger:
    """The assignments and memberships the bot made, one item per request in the bot's table
    (module doc)."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self._clients = clients
        self._table = table

    async def get(self, request_id: str) -> LedgerEntry | None:
        async with self._clients.client("dynamodb") as dynamodb:
            answer = await dynamodb.get_item(
                TableName=self._table, Key=_key(request_id), ConsistentRead=True
            )
        item = answer.get("Item")
        return _entry(item) if item else None

    async def claim(self, request_id: str, subject: str, preexisting: bool) -> LedgerEntry:
        """Record the intent to grant ``subject``, once: a second claim returns the first."""
        item = _key(request_id) | {
            "subject": {"S": subject},
            "preexisting": {"BOOL": preexisting},
        }
        try:
            async with self._clients.client("dynamodb") as dynamodb:
                await dynamodb.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = await self.get(request_id)
            assert existing is not None
            return existing
        return LedgerEntry(request_id, subject, preexisting)

    async def created(self, request_id: str, creation_request_id: str) -> None:
        await self._update(request_id, "creation_request_id", {"S": creation_request_id})

    async def forget(self, request_id: str) -> None:
        """Drop the entry once what it records is removed (or left to the user)."""
        async with self._clients.client("dynamodb") as dynamodb:
            await dynamodb.delete_item(TableName=self._table, Key=_key(request_id))

    async def entries(self) -> list[LedgerEntry]:
        """Every entry (the ledger's one partition, queried page by page): what the bot
        granted and has not removed yet."""
        found: list[LedgerEntry] = []
        async with self._clients.client("dynamodb") as dynamodb:
            pages = dynamodb.get_paginator("query")
            async for page in pages.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": LEDGER_PK}},
                ConsistentRead=True,
            ):
                found.extend(_entry(item) for item in page.get("Items", []))
        return found

    async def holders(self, subject: str, *, other_than: str) -> list[LedgerEntry]:
        """Entries of other requests for the same subject."""
        return [
            entry
            for entry in await self.entries()
            if entry.subject == subject and entry.request_id != other_than
        ]

    async def _update(self, request_id: str, name: str, value: dict[str, Any]) -> None:
        async with self._clients.client("dynamodb") as dynamodb:
            await dynamodb.update_item(
                TableName=self._table,
                Key=_key(request_id),
                UpdateExpression="SET #name = :value",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#name": name},
                ExpressionAttributeValues={":value": value},
            )


def _key(request_id: str) -> dict[str, Any]:
    return {"pk": {"S": LEDGER_PK}, "sk": {"S": request_id}}


def _entry(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        request_id=item["sk"]["S"],
        subject=item["subject"]["S"],
        preexisting=bool(item["preexisting"]["BOOL"]),
        creation_request_id=item.get("creation_request_id", {}).get("S", ""),
    )


class IdentityCenterOffers:
    """``ports.IdentityCenterDirectory``: permission sets on offer and user lookups, read from
    IAM Identity Center as configured now."""

    def __init__(
        self, center: IdentityCenter, settings: Callable[[], IdentityCenterConfig | None]
    ) -> None:
        self._center = center
        self._settings = settings

    async def offers(self, account: AccountConfig) -> list[TargetOffer]:
        settings = self._settings()
        if settings is None:
            return []
        if account.access_mode is AccessMode.GROUP_MEMBERSHIP:
            return [
                TargetOffer(name, f"Up to {rule.max_duration_minutes} minutes")
                if rule.max_duration_minutes
                else TargetOffer(name)
                for name, rule in settings.groups.items()
            ]
        names = [rule.name for rule in account.permission_sets]
        found = await self._center.permission_sets(settings, names)
        return [TargetOffer(s.name, s.description) for s in found]

    async def has_user(self, email: str) -> bool:
        settings = self._settings()
        return settings is not None and await self._center.user_id(settings, email) is not None
