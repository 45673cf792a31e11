"""Reconciliation: remove grants IAM still holds that no open request accounts for.

The grant flow never leaves a policy without a record that will remove it, but a crash between
two steps, a record edited by hand or a bug elsewhere could; this pass is the safety net. For
each configured account it reads the bot's own policies (inline ``<prefix>packed-<n>`` and
``<prefix><request id>`` policies on the login roles; the managed policy in managed_policy
mode), finds each grant by its statements' Sids, and removes the grant when its request is
missing, no longer ACTIVE or APPROVED, or its window ended more than ``grace`` ago (the
sweeper normally expires it first and audits that). Policies and statements the bot did not
write are never read for removal nor changed. Removal goes through the granters, under the same
per-(account, role/policy) locks and cross-replica lease as grants, so it is safe alongside
grants, another reconcile in the same process and another replica.

With thousands of accounts (AWS Organizations) a pass is bounded: at most ``concurrency``
accounts are checked at once (each assumes that account's role, so never 5,000 assumptions at
once), and the caller may limit it to ``accounts``: the runtime checks, every few minutes, the
accounts written in the file and those named by a request created in the last
``RECENT_REQUESTS`` (the bot writes a grant only after storing an APPROVED request for that
account, so an account no request names holds no grant of the bot's), and every account once a
day (``BotRuntime``). Each account is read through its granter, whose client is assumed per
account; shared clients (``AwsClients.with_assumed_shared``, used by discovery) would save
little here with at most ``concurrency`` accounts open at once.

IAM Identity Center assignments and memberships carry no mark of who made them, so there the
bot's ledger is the list (aws/identity_center.py): an entry whose request is not live (or whose
window ended) is removed through its granter, which never removes what the user already had or
what another live request shares. Assignments and memberships not in the ledger are never
touched.

The caller audits the report (EventType.RECONCILED), one entry per removed grant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.granter import (
    FoundGrant,
    InlinePolicyGranter,
    KeyedLocks,
    Lease,
    no_lease,
)
from cloud_access_bot.aws.identity_center import AssignmentLedger, IdentityCenter, LedgerEntry
from cloud_access_bot.aws.identity_center_granters import (
    REQUEST_SET_SUBJECT,
    GroupMembershipGranter,
    PermissionSetGranter,
    RequestPermissionSetGranter,
)
from cloud_access_bot.aws.managed_granter import ManagedPolicyGranter
from cloud_access_bot.config import AccessMode, AccountConfig, BotConfig
from cloud_access_bot.domain.model import AccessRequest, Status, iso
from cloud_access_bot.ports import GrantError, Store

#: Requests whose grants must stay: in place (ACTIVE) or being written (APPROVED).
LIVE = frozenset({Status.ACTIVE, Status.APPROVED})
#: How long after its window a live request's grant is left for the sweeper to expire.
GRACE = timedelta(minutes=5)
#: Accounts checked at once: each is a role assumption and a few IAM reads.
CONCURRENCY = 8
#: The frequent pass checks the accounts named by requests created this recently.
RECENT_REQUESTS = timedelta(days=90)


@dataclass(frozen=True)
class ReconciledGrant:
    """One grant removed: whose, where, and why."""

    request_id: str
    account_name: str
    account_id: str
    role: str
    policy_name: str
    reason: str


@dataclass
class ReconcileReport:
    removed: list[ReconciledGrant] = field(default_factory=list)
    #: One line per account (or role) that could not be checked; the rest still were.
    errors: list[str] = field(default_factory=list)


async def stale_reason(
    grant: FoundGrant, store: Store, now: datetime, grace: timedelta
) -> tuple[str, str] | None:
    """Why ``grant`` should go, with its request's login role (None: it stays)."""
    record = await store.get(grant.request_id)
    if record is None:
        return "no request record", grant.role
    if record.status not in LIVE:
        return f"request is {record.status.value}", record.login_role
    if grant.ends_at is not None and grant.ends_at <= now - grace:
        return f"window ended at {iso(grant.ends_at)}", record.login_role
    return None


async def _sweep(
    account_name: str,
    account: AccountConfig,
    found: list[FoundGrant],
    remove: Callable[[Collection[str]], Awaitable[list[FoundGrant]]],
    store: Store,
    now: datetime,
    grace: timedelta,
) -> list[ReconciledGrant]:
    reasons = dict(
        zip(
            [g.request_id for g in found],
            await asyncio.gather(*(stale_reason(g, store, now, grace) for g in found)),
            strict=True,
        )
    )
    stale = {request_id: why for request_id, why in reasons.items() if why is not None}
    if not stale:
        return []
    return [
        ReconciledGrant(
            request_id=g.request_id,
            account_name=account_name,
            account_id=account.account_number,
            role=g.role or stale[g.request_id][1],
            policy_name=g.policy_name,
            reason=stale[g.request_id][0],
        )
        for g in await remove(set(stale))
    ]


async def reconcile(
    clients: AwsClients,
    config: BotConfig,
    store: Store,
    *,
    now: datetime,
    grace: timedelta = GRACE,
    locks: KeyedLocks | None = None,
    lease: Lease = no_lease,
    accounts: Collection[str] | None = None,
    concurrency: int = CONCURRENCY,
) -> ReconcileReport:
    """Remove orphaned and ended bot grants from the configured accounts (``accounts``: only
    these names; None: every one); see the module doc.

    One account's failure (a role the bot cannot assume, a throttled call) is reported in
    ``errors`` and does not stop the others. ``locks`` and ``lease``: the runtime's, so a
    removal here takes turns with the granters (of this and other replicas) on each document.
    """
    inline = InlinePolicyGranter(clients, config.policy_name_prefix, lease=lease, locks=locks)
    managed = ManagedPolicyGranter(clients, lease=lease, locks=locks)
    gate = asyncio.Semaphore(concurrency)

    async def role_pass(name: str, account: AccountConfig, role: str) -> list[ReconciledGrant]:
        async with gate:
            found = await inline.find_grants(account, role)

            async def remove(ids: Collection[str]) -> list[FoundGrant]:
                return await inline.remove_grants(account, role, ids)

            return await _sweep(name, account, found, remove, store, now, grace)

    async def policy_pass(name: str, account: AccountConfig) -> list[ReconciledGrant]:
        async with gate:
            found = await managed.find_grants(account)

            async def remove(ids: Collection[str]) -> list[FoundGrant]:
                return await managed.remove_grants(account, ids)

            return await _sweep(name, account, found, remove, store, now, grace)

    passes: list[tuple[str, Awaitable[list[ReconciledGrant]]]] = []
    for name, account in config.accounts.items():
        if accounts is not None and name not in accounts:
            continue
        if account.access_mode is AccessMode.INLINE_POLICY:
            passes.extend(
                (f"{name} role {role}", role_pass(name, account, role))
                for role in config.login_roles_for(name)
            )
        elif account.access_mode is AccessMode.MANAGED_POLICY:
            passes.append(
                (f"{name} policy {account.managed_policy_name}", policy_pass(name, account))
            )
    if config.identity_center is not None:
        passes.append(
            (
                "IAM Identity Center",
                identity_center_pass(clients, config, store, now, grace, locks, lease),
            )
        )
    results = await asyncio.gather(*(work for _, work in passes), return_exceptions=True)
    report = ReconcileReport()
    for (label, _), result in zip(passes, results, strict=True):
        if isinstance(result, GrantError):
            report.errors.append(f"{label}: {result.message}")
        elif isinstance(result, Exception):
            report.errors.append(f"{label}: {type(result).__name__}: {result}")
        elif isinstance(result, BaseException):
            raise result
        else:
            report.removed.extend(result)
    return report


async def identity_center_pass(
    clients: AwsClients,
    config: BotConfig,
    store: Store,
    now: datetime,
    grace: timedelta,
    locks: KeyedLocks | None = None,
    lease: Lease = no_lease,
) -> list[ReconciledGrant]:
    """Remove the ledger's assignments and memberships no live request accounts for."""
    center = IdentityCenter(clients)
    ledger = AssignmentLedger(clients, config.dynamodb_table)
    settings = config.identity_center
    granters = {
        "group": GroupMembershipGranter(center, ledger, lambda: settings, lease=lease, locks=locks),
        REQUEST_SET_SUBJECT: RequestPermissionSetGranter(
            center, ledger, lambda: settings, lease=lease, locks=locks
        ),
    }
    assignments = PermissionSetGranter(center, ledger, lambda: settings, lease=lease, locks=locks)
    removed: list[ReconciledGrant] = []
    for entry in await ledger.entries():
        record = await store.get(entry.request_id)
        why = _ledger_reason(entry, record, now, grace)
        if why is None:
            continue
        granter = granters.get(entry.subject.split("|", 1)[0], assignments)
        if await granter.release(entry):
            removed.append(
                ReconciledGrant(
                    request_id=entry.request_id,
                    account_name=record.account_name if record else "",
                    account_id=record.account_id if record else "",
                    role=(record.target or "") if record else "",
                    policy_name=entry.subject,
                    reason=why,
                )
            )
    return removed


def _ledger_reason(
    entry: LedgerEntry, record: AccessRequest | None, now: datetime, grace: timedelta
) -> str | None:
    """Why the ledger entry's grant should go (None: it stays)."""
    if record is None:
        return "no request record"
    if record.status not in LIVE:
        return f"request is {record.status.value}"
    if record.expires_at is not None and record.expires_at <= now - grace:
        return f"window ended at {iso(record.expires_at)}"
    return None


async def recently_requested(store: Store, now: datetime, window: timedelta) -> set[str]:
    """The account numbers named by a request created within ``window`` before ``now``."""
    return {request.account_id for request in await store.created_between(now - window, now)}


def frequent_scope(
    config: BotConfig, file_config: BotConfig, requested: set[str]
) -> set[str] | None:
    """The names of the accounts a frequent pass checks (None: every one). Without AWS
    Organizations every account (they are the file's, a handful to hundreds); with it, the
    file's accounts and those whose number a recent request names (``requested``)."""
    if config.organizations is None:
        return None
    numbers = requested | {a.account_number for a in file_config.accounts.values()}
    return {name for name, a in config.accounts.items() if a.account_number in numbers}
