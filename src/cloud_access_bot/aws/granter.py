"""The inline_policy access mode: a login role's grants packed into a few bot inline policies.

In the target account (reached by assuming the account's ``iam_role``) the bot keeps every grant
on a login role in ``<prefix>packed-<n>`` inline policies, each statement matching only the
requester's session (``aws:userid = <RoleId>:<email>``) within the approved window, so IAM ends
the access on time even if the bot is down. IAM allows 10,240 characters (whitespace excluded)
of inline policies per role in total and moto enforces none of it, so the bot checks the room
itself before writing; packing pays the policy envelope once instead of once per grant (see
domain/packing.py). Grants written before packing (``<prefix><request id>``, one per grant) are
still found and removed.

When the inline budget is full, grants overflow into customer managed policies the bot creates
under ``/cloud-access-bot/`` and attaches to the role (``<prefix>overflow-<role>-<n>``, 6,144
chars each; see domain/packing.py), up to the role's attached-policy quota counting the policies
others attached. A changed overflow policy gets a new default version (the oldest non-default
one pruned when IAM's five are kept); one left without grants is detached and deleted. Only
when inline and overflow room are both used up is a grant refused (CapacityExceeded).

Writes are read-modify-write of a shared document, serialised per (account, role) within the
process by a lock shared by every adapter built on the same AwsClients, and across replicas by
a DynamoDB lease on the same key (aws/leases.py; IAM has no conditional write). After writing,
the bot still re-reads the policy and writes again if something else replaced it.

Throttling and outages that outlast botocore's retries are not GrantErrors but GrantUnavailable:
the request stays APPROVED and the sweeper's recovery tries again.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError, error_code, error_message, is_unavailable
from cloud_access_bot.config import AccountConfig, Binding
from cloud_access_bot.domain import packing
from cloud_access_bot.domain.model import AccessRequest, iso, utcnow
from cloud_access_bot.domain.policy import (
    blocking_findings,
    build_grant_policy,
    lint_policy,
    merge_statements,
    policy_json,
    policy_size,
)
from cloud_access_bot.ports import GrantError, GrantResult, GrantUnavailable

T = TypeVar("T")

#: IAM's quota for all inline policies of one role together (whitespace not counted).
ROLE_INLINE_POLICY_LIMIT = packing.ROLE_INLINE_LIMIT
#: The path of IAM Identity Center roles, which only IAM Identity Center may change.
SSO_ROLE_PATH = "/aws-reserved/sso.amazonaws.com/"
#: Writes of one grant before giving up when another writer keeps replacing the policy.
WRITE_ATTEMPTS = 3
#: The path of the bot's overflow policies (the bot's role may write policies only there).
OVERFLOW_PATH = "/cloud-access-bot/"
#: The description of every managed policy the bot creates (overflow and managed_policy mode).
POLICY_DESCRIPTION = "Time-limited grants written by cloud-access-bot; changed only by the bot."
#: IAM keeps at most this many versions of a managed policy.
MAX_POLICY_VERSIONS = 5

Document = dict[str, Any]


#: A cross-replica lease on a key (``DynamoLeases.hold``), held while its block runs.
Lease = Callable[[str], AbstractAsyncContextManager[None]]


def no_lease(key: str) -> AbstractAsyncContextManager[None]:
    """For one process alone (tests, the sandbox): the in-process lock is enough."""
    return nullcontext()


class KeyedLocks:
    """Serialises read-modify-write of one IAM document: an asyncio.Lock per key within the
    process, then the key's lease across replicas (so a process contends for the lease once
    per key, not once per task). The runtime makes one and hands it to every granter and to
    reconciliation, which rewrite the same documents."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, lease: Lease, *key: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(key, asyncio.Lock()), lease(":".join(key)):
            yield


@dataclass(frozen=True)
class FoundGrant:
    """A grant's statements as found in IAM: which request, in which policy, ending when."""

    request_id: str
    role: str
    policy_name: str
    ends_at: datetime | None


def where(account: AccountConfig, name: str | None = None) -> str:
    """``account dev (111111111111)``, or the number with its alias when the name is unknown."""
    if name:
        return f"account {name} ({account.account_number})"
    alias = f" ({account.account_alias})" if account.account_alias else ""
    return f"account {account.account_number}{alias}"


def grant_error(
    exc: ClientError, role: str, account: AccountConfig, *, policy: str | None = None
) -> GrantError:
    """A readable GrantError for what IAM refused while acting on ``role`` (or on the managed
    ``policy`` of an IAM Identity Center account)."""
    code = error_code(exc)
    detail = error_message(exc)
    place = where(account)
    target = f"policy {policy}" if policy else f"role {role}"
    unmodifiable = (
        f"Policy {policy} in {place} cannot be changed through IAM ({detail}): point "
        "managed_policy_name at a customer managed policy the bot may edit."
        if policy
        else f"Role {role} in {place} cannot be changed through IAM (IAM Identity Center roles "
        "need access_mode: managed_policy for this account)."
    )
    messages = {
        "AccessDenied": f"The bot's role {account.iam_role} is not allowed to change {target} "
        f"in {place}: {detail}",
        "LimitExceeded": f"IAM refused: {target} in {place} reached an IAM quota ({detail}).",
        "MalformedPolicyDocument": f"IAM rejected the policy for {target} in {place}: {detail}",
        "UnmodifiableEntity": unmodifiable,
        "NoSuchEntity": f"Login role {role} not found in {place}.",
    }
    messages["AccessDeniedException"] = messages["AccessDenied"]
    text = messages.get(code, f"IAM refused the change to {target} in {place}: {code}: {detail}")
    return GrantError(text, code or "IamError")


def assume_role_error(exc: AssumeRoleError, account: AccountConfig) -> GrantError:
    """A readable GrantError for the bot failing to assume the account's ``iam_role``."""
    return GrantError(
        f"The bot cannot assume {exc.role_arn} in {where(account)} ({exc.code}): check "
        "that role's trust policy allows the bot.",
        exc.code or "AssumeRoleFailed",
    )


async def in_account(
    clients: AwsClients,
    account: AccountConfig,
    role: str,
    work: Callable[[Any], Awaitable[T]],
    *,
    policy: str | None = None,
) -> T:
    """Run ``work`` with IAM in the target account; refusals become readable GrantErrors,
    throttling and outages GrantUnavailable."""
    try:
        return await clients.with_assumed("iam", account.iam_role, work)
    except AssumeRoleError as exc:
        raise assume_role_error(exc, account) from exc
    except (ClientError, BotoCoreError, OSError) as exc:
        if is_unavailable(exc):
            reason = error_code(exc) or type(exc).__name__
            raise GrantUnavailable(f"IAM in {where(account)} is not answering ({reason}).") from exc
        if isinstance(exc, ClientError):
            raise grant_error(exc, role, account, policy=policy) from exc
        raise


async def checked_document(
    request: AccessRequest,
    userid: str,
    start: datetime,
    end: datetime,
    *,
    merge: bool = False,
    account: AccountConfig | None = None,
) -> dict[str, Any]:
    """The grant's compact policy document, refused before any write if it cannot be built or
    parliament finds something of MEDIUM severity or worse in it. ``merge``: in fewer
    statements where that grants nothing more (``policy.merge_statements``). ``account``:
    its ``bind`` says whether the session's source identity is required too."""
    bound = account is not None and account.bind is Binding.SOURCE_IDENTITY
    try:
        built = build_grant_policy(
            request.services,
            userid=userid,
            not_before=start,
            not_after=end,
            sid=request.id,
            resource_account=request.account_id,
            source_identity=request.requester_email if bound else None,
            ticket=request.ticket,
        )
    except ValueError as exc:
        reason = f"The policy for this request cannot be built: {exc}"
        raise GrantError(reason, "InvalidGrant") from exc
    merged = merge_statements(built) if merge else built
    # Merged statements are linted too: should parliament object to one, the grant is written
    # unmerged (larger, same access) rather than refused.
    for candidate in [merged] if merged == built else [merged, built]:
        document = packing.compact(candidate)
        # parliament is CPU work (~1 ms, ~300 ms for its first import): keep it off the loop.
        blocking = blocking_findings(await asyncio.to_thread(lint_policy, document))
        if not blocking:
            return document
    found = "; ".join(f"{f.title} ({f.severity}): {f.detail}" for f in blocking)
    raise GrantError(
        f"The policy for this request was not written because the policy check found: "
        f"{found}. Ask for narrower actions or resources.",
        "PolicyLint",
    )


def capacity_error(
    subject: str,
    room: packing.Room,
    limit: int,
    ends: Mapping[str, datetime],
    now: datetime,
    *,
    note: str = "",
) -> GrantError:
    """CapacityExceeded for people: how much room, how much needed, when room frees up;
    ``note`` (a sentence) says why nowhere else had room either."""
    active = sorted(end for end in ends.values() if end > now)
    if active:
        later = (
            f"{len(active)} active grant{'s' if len(active) > 1 else ''} from this bot hold room "
            f"there; the earliest ends at {iso(active[0])}. Ask for fewer actions or resources, "
            "or ask again after that."
        )
    else:
        later = "No active grant from this bot holds room there: other policies use it up."
    return GrantError(
        f"{subject} has {max(room.left, 0)} chars left (IAM allows {limit:,}); this grant needs "
        f"{room.needed}. {note}{later}",
        "CapacityExceeded",
    )


def overflow_note(state: RoleState, quota: int, grant_size: int) -> str:
    """Why the grant fits in no overflow policy either ('' when overflow is off)."""
    if quota <= 0:
        return ""
    if state.attached < quota:
        return (
            f"It is too large for an overflow policy too (IAM allows "
            f"{packing.MANAGED_POLICY_LIMIT:,} chars per managed policy; it needs {grant_size}). "
        )
    held = len(state.overflow)
    by_bot = (
        f"{held} of them the bot's overflow policies, full" if held else "none of them the bot's"
    )
    return f"All {quota} managed policies the role may have attached are in use ({by_bot}). "


@dataclass
class RoleState:
    """A login role as the bot sees it: its inline policies, the bot's overflow policies
    attached to it (by number), and how many managed policies are attached in all."""

    inline: dict[str, Document] = field(default_factory=dict)
    overflow: dict[int, Document] = field(default_factory=dict)
    attached: int = 0


async def policy_document(iam: Any, arn: str) -> Document | None:
    """A managed policy's default version (None if the policy does not exist)."""
    try:
        policy = (await iam.get_policy(PolicyArn=arn))["Policy"]
        version = await iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return None
        raise
    document = version["PolicyVersion"]["Document"]
    if isinstance(document, str):
        return dict(json.loads(urllib.parse.unquote(document)))
    return dict(document)


def version_to_prune(versions: Iterable[Mapping[str, Any]]) -> str | None:
    """The VersionId to delete before adding a version: the oldest non-default one when IAM's
    five are kept (None while there is room)."""
    versions = list(versions)
    if len(versions) < MAX_POLICY_VERSIONS:
        return None
    oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    return str(oldest["VersionId"])


async def put_policy_version(iam: Any, arn: str, document: Mapping[str, Any]) -> None:
    """``document`` as the policy's new default version, first deleting the oldest non-default
    version when IAM's five are kept."""
    stale = version_to_prune((await iam.list_policy_versions(PolicyArn=arn))["Versions"])
    if stale:
        await iam.delete_policy_version(PolicyArn=arn, VersionId=stale)
    await iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=policy_json(document), SetAsDefault=True
    )


async def delete_policy(iam: Any, arn: str, role: str) -> None:
    """Detach the policy from ``role`` and delete it with its non-default versions."""
    try:
        await iam.detach_role_policy(RoleName=role, PolicyArn=arn)
        versions = (await iam.list_policy_versions(PolicyArn=arn))["Versions"]
        for version in versions:
            if not version["IsDefaultVersion"]:
                await iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
        await iam.delete_policy(PolicyArn=arn)
    except ClientError as exc:
        if error_code(exc) != "NoSuchEntity":
            raise


class InlinePolicyGranter:
    def __init__(
        self,
        clients: AwsClients,
        policy_name_prefix: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        attached_policy_quota: int = packing.ATTACHED_POLICIES_PER_ROLE,
        merge: bool = False,
        lease: Lease = no_lease,
        locks: KeyedLocks | None = None,
    ) -> None:
        """``attached_policy_quota``: the managed policies a login role may have attached
        (IAM's quota, 10 unless raised); the bot's overflow policies use the slots others leave
        free. 0 turns overflow off: grants then only go inline. ``merge``: write each grant in
        as few statements as grant the same access (``policy.merge_statements``; the typical
        grant takes 411 chars instead of 692). ``lease``: held around every change of a role's
        documents, so replicas take turns (``leases.DynamoLeases.hold``). ``locks``: the
        runtime's, shared with everything else rewriting the same documents (a granter on its
        own gets its own)."""
        self._clients = clients
        self._prefix = policy_name_prefix
        self._clock = clock
        self._locks = KeyedLocks() if locks is None else locks
        self._lease = lease
        self._quota = attached_policy_quota
        self._merge = merge

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        role = request.login_role

        async def put(iam: Any) -> GrantResult:
            role_id = await self._login_role_id(iam, role, account)
            document = await checked_document(
                request,
                f"{role_id}:{request.requester_email}",
                start,
                end,
                merge=self._merge,
                account=account,
            )
            async with self._locks.hold(self._lease, account.account_number, "role", role):
                for _ in range(WRITE_ATTEMPTS):
                    state = await self._state(iam, account, role)
                    plan = packing.plan_overflow_grant(
                        state.inline,
                        state.overflow,
                        self._prefix,
                        role,
                        document,
                        request.id,
                        free_slots=self._quota - state.attached,
                    )
                    if not plan.fits:
                        raise capacity_error(
                            f"Role {role} in {where(account, request.account_name)}",
                            plan.room,
                            ROLE_INLINE_POLICY_LIMIT,
                            self._ends(state, exclude=request.id),
                            self._clock(),
                            note=overflow_note(state, self._quota, policy_size(document)),
                        )
                    await self._apply(iam, account, role, plan, state)
                    if plan.overflow is None:
                        written = await self._policy(iam, role, plan.target)
                    else:
                        arn = self._overflow_arn(account, role, plan.overflow)
                        written = await policy_document(iam, arn)
                    if packing.holds_grant(written, document):
                        return GrantResult(policy_name=plan.target, policy_document=document)
            raise GrantError(
                f"Another writer kept replacing the bot's policy on role {role} in "
                f"{where(account, request.account_name)}; nothing was granted. Try again.",
                "ConcurrentUpdate",
            )

        return await in_account(self._clients, account, role, put)

    async def revoke(self, request: AccessRequest, account: AccountConfig) -> bool:
        removed = await self.remove_grants(account, request.login_role, {request.id})
        return bool(removed)

    async def find_grants(self, account: AccountConfig, role: str) -> list[FoundGrant]:
        """Every grant the bot's policies hold on ``role``, inline and overflow (none if the
        role is gone)."""

        async def read(iam: Any) -> list[FoundGrant]:
            return self._found(role, await self._state(iam, account, role))

        return await in_account(self._clients, account, role, read)

    async def remove_grants(
        self, account: AccountConfig, role: str, request_ids: Collection[str]
    ) -> list[FoundGrant]:
        """Remove these requests' statements from the role; what was removed (idempotent).

        A packed policy left empty is deleted, so is a one-policy-per-grant policy; an overflow
        policy left empty is detached and deleted.
        """

        async def remove(iam: Any) -> list[FoundGrant]:
            async with self._locks.hold(self._lease, account.account_number, "role", role):
                state = await self._state(iam, account, role)
                removed = [g for g in self._found(role, state) if g.request_id in request_ids]
                inline = packing.role_removals(state.inline, self._prefix, request_ids)
                for name, document in inline.items():
                    await self._write(iam, role, name, document)
                managed = packing.managed_removals(state.overflow, request_ids)
                for number, document in managed.items():
                    await self._write_overflow(iam, account, role, number, document, exists=True)
                return removed

        return await in_account(self._clients, account, role, remove)

    def _found(self, role: str, state: RoleState) -> list[FoundGrant]:
        found = []
        named = {n: d for n, d in state.inline.items() if packing.is_bot_policy(n, self._prefix)}
        named |= {
            packing.overflow_name(self._prefix, role, n): d for n, d in state.overflow.items()
        }
        for name, document in named.items():
            ends = packing.grant_ends([document])
            single = packing.single_grant_id(name, self._prefix)
            for request_id in sorted(set(ends) | ({single} if single else set())):
                found.append(FoundGrant(request_id, role, name, ends.get(request_id)))
        return found

    def _ends(self, state: RoleState, exclude: str) -> dict[str, datetime]:
        bot = [d for n, d in state.inline.items() if packing.is_bot_policy(n, self._prefix)]
        ends = packing.grant_ends([*bot, *state.overflow.values()])
        return {k: v for k, v in ends.items() if k != exclude}

    async def _apply(
        self,
        iam: Any,
        account: AccountConfig,
        role: str,
        plan: packing.OverflowPlan,
        state: RoleState,
    ) -> None:
        """The plan's writes, the policy receiving the grant first."""
        first = plan.managed[:1] if plan.overflow is not None else ()
        for number, document in first:
            exists = number in state.overflow
            await self._write_overflow(iam, account, role, number, document, exists=exists)
        for name, written in plan.inline:
            await self._write(iam, role, name, written)
        for number, document in plan.managed[len(first) :]:
            await self._write_overflow(iam, account, role, number, document, exists=True)

    def _overflow_arn(self, account: AccountConfig, role: str, number: int) -> str:
        partition = account.iam_role.split(":")[1]
        name = packing.overflow_name(self._prefix, role, number)
        return f"arn:{partition}:iam::{account.account_number}:policy{OVERFLOW_PATH}{name}"

    async def _state(self, iam: Any, account: AccountConfig, role: str) -> RoleState:
        """The role's inline policies and attached overflow policies (empty if it is gone)."""
        attached: list[dict[str, Any]] = []
        try:
            paginator = iam.get_paginator("list_attached_role_policies")
            async for page in paginator.paginate(RoleName=role):
                attached.extend(page["AttachedPolicies"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return RoleState()
            raise
        numbers = [
            n
            for p in attached
            if (n := packing.overflow_number(p["PolicyName"], self._prefix, role)) is not None
            and p["PolicyArn"] == self._overflow_arn(account, role, n)
        ]
        inline, documents = await asyncio.gather(
            self._policies(iam, role),
            asyncio.gather(
                *(policy_document(iam, self._overflow_arn(account, role, n)) for n in numbers)
            ),
        )
        overflow = {n: d for n, d in zip(numbers, documents, strict=True) if d is not None}
        return RoleState(inline, overflow, len(attached))

    async def _login_role_id(self, iam: Any, role: str, account: AccountConfig) -> str:
        """The RoleId of the login role (looked up each time: it changes if the role is
        recreated); refuses roles IAM will not let the bot change."""
        try:
            found = (await iam.get_role(RoleName=role))["Role"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                raise GrantError(
                    f"Login role {role} not found in {where(account)}.", "NoSuchEntity"
                ) from exc
            raise
        if str(found.get("Path", "")).startswith(SSO_ROLE_PATH):
            raise GrantError(
                f"Login role {role} in {where(account)} is an IAM Identity Center role, which "
                "only IAM Identity Center may change: set access_mode: managed_policy for this "
                "account and reference the bot's policy from the permission set.",
                "UnmodifiableEntity",
            )
        return str(found["RoleId"])

    async def _policies(self, iam: Any, role: str) -> dict[str, dict[str, Any]]:
        """The role's inline policies by name (empty if the role does not exist)."""
        names: list[str] = []
        try:
            async for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
                names.extend(page["PolicyNames"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return {}
            raise
        documents = await asyncio.gather(*(self._policy(iam, role, n) for n in names))
        return {n: d for n, d in zip(names, documents, strict=True) if d is not None}

    async def _policy(self, iam: Any, role: str, name: str) -> dict[str, Any] | None:
        try:
            answer = await iam.get_role_policy(RoleName=role, PolicyName=name)
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return None
            raise
        # botocore hands the documents back decoded into dicts.
        return dict(answer["PolicyDocument"])

    async def _write(
        self, iam: Any, role: str, name: str, document: Mapping[str, Any] | None
    ) -> None:
        if document is not None:
            await iam.put_role_policy(
                RoleName=role, PolicyName=name, PolicyDocument=policy_json(document)
            )
            return
        try:
            await iam.delete_role_policy(RoleName=role, PolicyName=name)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise

    async def _write_overflow(
        self,
        iam: Any,
        account: AccountConfig,
        role: str,
        number: int,
        document: Mapping[str, Any] | None,
        *,
        exists: bool,
    ) -> None:
        """Write overflow policy ``number`` (None: detach and delete it); a new one is created
        and attached to ``role``."""
        arn = self._overflow_arn(account, role, number)
        if document is None:
            await delete_policy(iam, arn, role)
            return
        if exists:
            await put_policy_version(iam, arn, document)
            return
        try:
            await iam.create_policy(
                PolicyName=packing.overflow_name(self._prefix, role, number),
                Path=OVERFLOW_PATH,
                PolicyDocument=policy_json(document),
                Description=POLICY_DESCRIPTION,
            )
        except ClientError as exc:
            # Left unattached by an interrupted grant: the bot's own, so it is reused.
            if error_code(exc) != "EntityAlreadyExists":
                raise
            await put_policy_version(iam, arn, document)
        await iam.attach_role_policy(RoleName=role, PolicyArn=arn)
