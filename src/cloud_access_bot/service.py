"""Use cases: submit, approve, deny, cancel, revoke, sweep.

The service orchestrates the pure rules (domain) and the ports (store, granters, Slack
directory and notifier). It never reads request details from Slack messages and keeps no
request state in memory: every decision re-reads the stored request and every change is a
conditional write, so duplicate clicks, concurrent approvers and several replicas are safe.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cloud_access_bot.config import AccessMode, AccountConfig, BotConfig, SelfApproval
from cloud_access_bot.config_rules import warning_of
from cloud_access_bot.domain import approval, guardrails
from cloud_access_bot.domain.approval import Decision, Outcome
from cloud_access_bot.domain.model import (
    REQUEST_ID,
    AccessRequest,
    EventType,
    ServiceAccess,
    Status,
    can_transition,
    iso,
    utcnow,
)
from cloud_access_bot.domain.policy import unmappable_actions
from cloud_access_bot.domain.tickets import ticket_problem
from cloud_access_bot.eligibility import refusal_for
from cloud_access_bot.metrics import Recorder
from cloud_access_bot.ports import (
    ConflictError,
    Directory,
    Granter,
    GrantError,
    GrantUnavailable,
    Metrics,
    Notifier,
    Store,
)

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "cloud-access-bot"
#: An APPROVED request older than this is an interrupted grant: the sweeper finishes it.
STUCK_APPROVAL = timedelta(seconds=30)
#: Ended grants a sweep removes at once. A removal mostly waits on AWS and Slack round trips;
#: removals on one role still take turns (the granters' lock and lease), on different roles
#: they overlap (bench: ``sweep_ms_40_expired_aws_50ms``).
EXPIRY_CONCURRENCY = 10


@dataclass(frozen=True)
class Draft:
    """What a requester submitted, before it becomes a stored request."""

    requester_id: str
    account_name: str
    login_role: str
    reason: str
    duration_minutes: int
    services: tuple[ServiceAccess, ...]
    #: Identifies one submission (Slack's view id): a redelivered submission maps to the same
    #: request id, so it is stored once.
    submission_id: str | None = None
    #: The ticket or change id, when the account requires one (``ticket_pattern``).
    ticket: str = ""

    def request_id(self) -> str:
        if self.submission_id:
            return hashlib.sha256(self.submission_id.encode()).hexdigest()[:12]
        return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class SubmitResult:
    request: AccessRequest | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class SweepReport:
    expired: int = 0
    timed_out: int = 0
    reminded: int = 0
    recovered: int = 0
    errors: int = 0


class AccessService:
    def __init__(
        self,
        *,
        config: Callable[[], BotConfig],
        store: Store,
        granters: Mapping[AccessMode, Granter],
        directory: Directory,
        notifier: Notifier,
        access_level: Callable[[str], str | None],
        clock: Callable[[], datetime] = utcnow,
        expiry_concurrency: int = EXPIRY_CONCURRENCY,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics or Recorder()
        self._config = config
        self._expiry_concurrency = expiry_concurrency
        self._store = store
        self._granters = granters
        self._directory = directory
        self._notifier = notifier
        self._access_level = access_level
        self._clock = clock

    # -- submit ---------------------------------------------------------------------------

    def validate(self, draft: Draft) -> dict[str, str]:
        """Problems with a draft keyed by field (account, login_role, duration, actions, …)."""
        config = self._config()
        errors: dict[str, str] = {}
        if not draft.reason.strip():
            errors["reason"] = "Say why you need this access."
        if config.account(draft.account_name) is None:
            errors["account"] = f"Unknown account {draft.account_name!r}: pick one from the list."
            return errors
        if draft.login_role not in config.login_roles_for(draft.account_name):
            errors["login_role"] = (
                f"{draft.login_role!r} is not a login role of {draft.account_name}; "
                f"choose one of {', '.join(config.login_roles_for(draft.account_name))}."
            )
        ticket = ticket_problem(config.accounts[draft.account_name].ticket_pattern, draft.ticket)
        if ticket:
            errors["ticket"] = ticket
        duration_problem = guardrails.check_duration(
            draft.duration_minutes, config=config, account_name=draft.account_name
        )
        if duration_problem:
            errors["duration"] = duration_problem
        actions = [a for s in draft.services for a in s.actions]
        if not draft.services or not actions:
            errors["actions"] = "Pick at least one action."
        refusals = guardrails.refused_actions(
            actions, config=config, account_name=draft.account_name, access_level=self._access_level
        )
        if refusals:
            errors["actions"] = " ".join(r.reason for r in refusals)
        if any(not s.resources for s in draft.services):
            errors["resources"] = "Pick at least one resource or enter an ARN."
        if "actions" not in errors and "resources" not in errors:
            # e.g. s3:ListBucket asked for with only object ARNs: refused now, not at approval.
            problems = unmappable_actions(draft.services)
            if problems:
                errors["actions"] = " ".join(problems)[:1900]
        return errors

    async def submit(self, draft: Draft) -> SubmitResult:
        """Validate, store as PENDING with its REQUESTED event, then announce or auto-approve."""
        errors = self.validate(draft)
        if errors:
            return SubmitResult(errors=errors)
        config = self._config()
        refused = await refusal_for(config, draft.account_name, draft.requester_id, self._directory)
        if refused:
            return SubmitResult(errors={"account": refused})
        email = await self._directory.email_of(draft.requester_id)
        if not email:
            return SubmitResult(
                errors={
                    "account": "Your Slack profile has no email address; the grant is "
                    "scoped to your AWS session name (your email). Ask a Slack admin."
                }
            )
        groups = config.approval_groups_for(draft.account_name)
        approvers = tuple(await self._directory.members_of(groups))
        account = config.accounts[draft.account_name]
        now = self._clock()
        request = AccessRequest(
            id=draft.request_id(),
            requester_id=draft.requester_id,
            requester_email=email.lower(),
            account_name=draft.account_name,
            account_id=account.account_number,
            login_role=draft.login_role,
            reason=draft.reason.strip(),
            duration_minutes=draft.duration_minutes,
            services=draft.services,
            created_at=now,
            approvers=approvers,
            approvals_required=config.approvals_required_for(draft.account_name),
            timeout_at=now + timedelta(minutes=config.pending_timeout_minutes),
            next_reminder_at=next_reminder(now, now, config.reminder_minutes),
            # Kept so the grant can still be removed if the account later leaves the config.
            extra={
                "iam_role": account.iam_role,
                "access_mode": account.access_mode.value,
                **({"ticket": draft.ticket.strip()} if account.ticket_pattern else {}),
                **({"warning": warning} if (warning := warning_of(account)) else {}),
            },
        )
        auto = approval.auto_approval(request, config, self._access_level)
        others = [a for a in approvers if a != draft.requester_id]
        if auto is None and not others and config.self_approval is SelfApproval.DENY:
            return SubmitResult(
                errors={
                    "account": f"Nobody can approve requests for {draft.account_name}: the "
                    f"approval groups ({', '.join(groups)}) have no other active members."
                }
            )
        try:
            stored = await self._store.create(
                request,
                draft.requester_id,
                {
                    "reason": request.reason,
                    "services": _services(request),
                    **({"ticket": request.extra["ticket"]} if "ticket" in request.extra else {}),
                },
            )
        except ConflictError as duplicate:
            # The same submission delivered again: it is already stored (and announced).
            return SubmitResult(request=duplicate.current)
        self._metrics.recorded(EventType.REQUESTED, stored, now)
        if auto is not None:
            await self._approve_now(stored, SYSTEM_ACTOR, auto, EventType.AUTO_APPROVED)
            return SubmitResult(request=stored)
        await self._announce(stored)
        return SubmitResult(request=stored)

    async def _announce(self, stored: AccessRequest) -> None:
        """DM the approvers and the requester, and remember the messages."""
        messages, requester_message = await self._notifier.announce(stored)
        await self._store.set_messages(stored.id, messages, requester_message)
        latest = await self._store.get(stored.id)
        if latest is not None and latest.version != stored.version:
            # Someone decided before the message refs were stored: bring the DMs up to date.
            await self._notifier.refresh(latest, EventType.REQUESTED, SYSTEM_ACTOR)

    # -- decisions ------------------------------------------------------------------------

    async def approve(
        self, request_id: str, clicker: str, break_glass_reason: str | None = None
    ) -> Decision:
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        config = self._config()
        is_approver = await self._is_approver(request, clicker)
        decision = approval.decide_approval(
            request,
            clicker,
            clicker_is_approver=is_approver,
            config=config,
            break_glass_reason=break_glass_reason,
        )
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        if decision.outcome is Outcome.RECORD:
            updated = request.with_changes(approvals=(*request.approvals, clicker))
            saved = await self._commit(
                request, updated, EventType.APPROVAL_ADDED, clicker, {"reason": decision.reason}
            )
            if saved is not None:
                await self._refresh(saved, EventType.APPROVAL_ADDED, clicker)
            return decision
        if decision.break_glass:
            await self._notifier.break_glass(request, clicker, break_glass_reason or "")
            decision = Decision(
                decision.outcome, f"{decision.reason}: {break_glass_reason}", break_glass=True
            )
        await self._approve_now(request, clicker, decision, EventType.APPROVED)
        return decision

    async def deny(self, request_id: str, clicker: str, reason: str) -> Decision:
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = approval.decide_denial(
            request,
            clicker,
            clicker_is_approver=await self._is_approver(request, clicker),
            config=self._config(),
        )
        return await self._close(
            request, clicker, decision, Status.DENIED, EventType.DENIED, reason
        )

    async def cancel(self, request_id: str, clicker: str) -> Decision:
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = approval.decide_cancel(request, clicker)
        return await self._close(
            request, clicker, decision, Status.CANCELLED, EventType.CANCELLED, "cancelled"
        )

    async def revoke(self, request_id: str, clicker: str) -> Decision:
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = approval.decide_revoke(
            request, clicker, clicker_is_approver=await self._is_approver(request, clicker)
        )
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        if not await self._remove_grant(request, clicker, Status.REVOKED, EventType.REVOKED):
            await self._notifier.tell(clicker, "This grant had already ended.")
        return decision

    async def ask_extension(self, request_id: str, clicker: str, minutes: int) -> Decision:
        """The requester asks for more time; approvers decide as for a new request."""
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = approval.decide_extension(
            request, clicker, extra_minutes=minutes, config=self._config()
        )
        if decision.outcome is Outcome.APPROVE and request.pending_extension:
            decision = _refused("An extension is already waiting for approval.")
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        asked = request.with_changes(extra={**request.extra, "extension_minutes": minutes})
        saved = await self._commit(
            request,
            asked,
            EventType.EXTENSION_REQUESTED,
            clicker,
            {"minutes": minutes, "reason": decision.reason},
            notify_loser=clicker,
        )
        if saved is not None:
            await self._notifier.ask_extension(saved)
        return decision

    async def decide_extension(self, request_id: str, clicker: str, *, approve: bool) -> Decision:
        """An approver extends the window in place (same policy, later end) or refuses."""
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        minutes = request.pending_extension
        if request.status is not Status.ACTIVE or not minutes:
            decision = _refused(f"No extension of request {request.id} is waiting.")
        elif clicker == request.requester_id:
            decision = _refused("You cannot decide on your own extension.")
        elif not await self._is_approver(request, clicker):
            decision = _refused("Only the account's approvers can decide on an extension.")
        else:
            decision = Decision(Outcome.APPROVE, f"extension by {minutes} minutes")
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        cleared = {k: v for k, v in request.extra.items() if k != "extension_minutes"}
        if not approve:
            denied = request.with_changes(extra=cleared)
            saved = await self._commit(
                request,
                denied,
                EventType.EXTENSION_DENIED,
                clicker,
                {"minutes": minutes},
                notify_loser=clicker,
            )
            if saved is not None:
                await self._notifier.tell(
                    request.requester_id,
                    f"Your extension of request `{request.id}` was refused by <@{clicker}>.",
                )
            return decision
        await self._extend(request, clicker, minutes, cleared)
        return decision

    async def _extend(
        self, request: AccessRequest, clicker: str, minutes: int, extra: dict[str, Any]
    ) -> None:
        assert request.starts_at is not None and request.expires_at is not None
        account = self._config().account(request.account_name)
        end = request.expires_at + timedelta(minutes=minutes)
        longer = request.with_changes(
            expires_at=end, duration_minutes=request.duration_minutes + minutes, extra=extra
        )
        try:
            if account is None:
                raise GrantError(f"Account {request.account_name} is no longer configured.")
            result = await self._granter(account).grant(longer, account, request.starts_at, end)
        except GrantError as error:
            text = f"Extension of request `{request.id}` failed: {error.message}"
            await self._notifier.tell(clicker, text)
            await self._notifier.tell(request.requester_id, text)
            return
        longer = longer.with_changes(
            policy_name=result.policy_name,
            policy_document=json.dumps(result.policy_document, separators=(",", ":")),
        )
        details = {
            "minutes": minutes,
            "expires_at": iso(end),
            "policy_document": result.policy_document,
        }
        saved = await self._commit(request, longer, EventType.EXTENDED, clicker, details)
        if saved is None:
            # The grant ended meanwhile (expired or revoked): take back what was just written.
            await self._granter(account).revoke(request, account)
            await self._notifier.tell(clicker, "The grant ended before the extension was written.")
            return
        await self._refresh(saved, EventType.EXTENDED, clicker)

    async def record_reconciled(self, request_id: str, details: dict[str, Any]) -> None:
        """Audit a grant that reconciliation removed from IAM (its status does not change)."""
        request = await self._store.get(request_id)
        if request is None:
            log.warning("reconciled grant %s has no request record: %s", request_id, details)
            return
        await self._commit(request, request, EventType.RECONCILED, SYSTEM_ACTOR, details)

    # -- background -----------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        """Expire ended grants, time out forgotten requests, finish interrupted grants."""
        report = SweepReport()
        now = self._clock()
        ended = await self._store.due(Status.ACTIVE, now, limit=500)
        gate = asyncio.Semaphore(self._expiry_concurrency)

        async def expire(request: AccessRequest) -> None:
            async with gate:
                removal = self._remove_grant(
                    request, SYSTEM_ACTOR, Status.EXPIRED, EventType.EXPIRED
                )
                if await self._guard(report, removal):
                    report.expired += 1

        await asyncio.gather(*(expire(request) for request in ended))
        for request in await self._store.due(Status.PENDING, now, limit=500):
            if request.timeout_at and request.timeout_at > now:
                if not request.messages:
                    # Stored by a process that died before telling the approvers.
                    await self._guard(report, self._announce(request))
                if await self._guard(report, self._remind(request, now)):
                    report.reminded += 1
                continue
            timed_out = request.with_changes(
                status=Status.TIMED_OUT, decided_at=now, decided_by=SYSTEM_ACTOR
            )
            saved = await self._guard(
                report,
                self._commit(
                    request,
                    timed_out,
                    EventType.TIMED_OUT,
                    SYSTEM_ACTOR,
                    {"reason": "no decision before the pending timeout"},
                ),
            )
            if saved is not None:
                report.timed_out += 1
                await self._refresh(saved, EventType.TIMED_OUT, SYSTEM_ACTOR)
        for request in await self._store.due(Status.APPROVED, now - STUCK_APPROVAL, limit=100):
            await self._guard(report, self._activate(request, SYSTEM_ACTOR))
            report.recovered += 1
        return report

    # -- internals ------------------------------------------------------------------------

    async def _remind(self, request: AccessRequest, now: datetime) -> bool:
        """Nudge the approvers who have not decided yet, then schedule the next nudge.

        A request whose approvers were never told (the process died between storing and
        announcing it) is announced here instead, at its first reminder.
        """
        schedule = self._config().reminder_minutes
        upcoming = next_reminder(request.created_at, now, schedule)
        reminded = request.with_changes(next_reminder_at=upcoming)
        saved = await self._commit(
            request,
            reminded,
            EventType.REMINDED,
            SYSTEM_ACTOR,
            {"next_reminder_at": iso(upcoming) if upcoming else None},
        )
        if saved is None:
            return False
        if request.messages:
            waiting = [a for a in saved.approvers if a not in saved.approvals]
            await self._notifier.remind(saved, waiting)
        return True

    async def _guard(self, report: SweepReport, work: Any) -> Any:
        """Run one sweep item; a failure is logged and counted, never stops the sweep."""
        try:
            return await work
        except Exception:
            report.errors += 1
            log.exception("sweep item failed")
            return None

    async def _refresh(self, request: AccessRequest, event: EventType, actor: str) -> None:
        """Update every message about the request; message refs are re-read because they are
        stored after the announcement, possibly after this request was read."""
        stored = await self._store.get(request.id)
        if stored is not None:
            request = request.with_changes(
                messages=stored.messages, requester_message=stored.requester_message
            )
        await self._notifier.refresh(request, event, actor)

    async def _load(self, request_id: str, clicker: str) -> AccessRequest | None:
        request = await self._store.get(request_id) if REQUEST_ID.match(request_id) else None
        if request is None:
            await self._notifier.tell(
                clicker, "That request does not exist (the button may have been tampered with)."
            )
        return request

    async def _is_approver(self, request: AccessRequest, user_id: str) -> bool:
        """Membership at click time, not at announce time: a removed member is refused."""
        config = self._config()
        if config.account(request.account_name) is None:
            return False
        groups = config.approval_groups_for(request.account_name)
        return user_id in await self._directory.members_of(groups, fresh=True)

    async def _commit(
        self,
        current: AccessRequest,
        updated: AccessRequest,
        event: EventType,
        actor: str,
        details: dict[str, Any],
        *,
        notify_loser: str | None = None,
    ) -> AccessRequest | None:
        """Conditional write; None if someone else changed the request first.

        A status change must be one the lifecycle allows (``TRANSITIONS``): anything else is a
        bug, refused before it reaches the store.
        """
        if updated.status is not current.status and not can_transition(
            current.status, updated.status
        ):
            raise ValueError(f"{current.status} → {updated.status} is not a lifecycle step")
        try:
            saved = await self._store.commit(current, updated, event, actor, details)
            self._metrics.recorded(event, saved, self._clock())
            return saved
        except ConflictError as conflict:
            if notify_loser and conflict.current is not None:
                await self._notifier.tell(notify_loser, already_decided(conflict.current))
            return None

    async def _close(
        self,
        request: AccessRequest,
        clicker: str,
        decision: Decision,
        status: Status,
        event: EventType,
        reason: str,
    ) -> Decision:
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        closed = request.with_changes(
            status=status, decided_by=clicker, decided_at=self._clock(), decision_reason=reason
        )
        saved = await self._commit(
            request, closed, event, clicker, {"reason": reason}, notify_loser=clicker
        )
        if saved is not None:
            await self._refresh(saved, event, clicker)
        return decision

    async def _approve_now(
        self, request: AccessRequest, actor: str, decision: Decision, event: EventType
    ) -> None:
        now = self._clock()
        start, end = request.window(now)
        approved = request.with_changes(
            status=Status.APPROVED,
            approvals=(*request.approvals, actor) if actor != SYSTEM_ACTOR else request.approvals,
            decided_by=actor,
            decided_at=now,
            decision_reason=decision.reason,
            starts_at=start,
            expires_at=end,
        )
        details: dict[str, Any] = {"reason": decision.reason, "break_glass": decision.break_glass}
        saved = await self._commit(request, approved, event, actor, details, notify_loser=actor)
        if saved is None:
            return
        await self._refresh(saved, event, actor)
        try:
            await self._activate(saved, actor)
        except GrantUnavailable as error:
            # The approval stands; the sweeper writes the grant once AWS answers again.
            log.warning("grant of %s deferred: %s", saved.id, error)
            person = actor if actor != SYSTEM_ACTOR else saved.requester_id
            await self._notifier.tell(
                person,
                f"Request `{saved.id}` is approved, but the access is not in place yet: {error} "
                "I will try again within a minute; there is nothing you need to do.",
            )

    async def _activate(self, request: AccessRequest, actor: str) -> None:
        """APPROVED → ACTIVE once the policy is in place, or FAILED with the reason."""
        account = self._account_of(request)
        assert request.starts_at is not None and request.expires_at is not None
        if account is None:
            await self._fail(request, f"Account {request.account_name} is no longer configured.")
            return
        if request.expires_at <= self._clock():
            await self._fail(request, "The approved window ended before the grant was written.")
            return
        try:
            result = await self._granter(account).grant(
                request, account, request.starts_at, request.expires_at
            )
        except GrantError as error:
            await self._fail(request, error.message, error.code)
            return
        active = request.with_changes(
            status=Status.ACTIVE,
            policy_name=result.policy_name,
            policy_document=json.dumps(result.policy_document, separators=(",", ":")),
        )
        details = {
            "policy_name": result.policy_name,
            "expires_at": iso(request.expires_at),
            "policy_document": result.policy_document,
        }
        saved = await self._commit(request, active, EventType.GRANTED, actor, details)
        if saved is not None:
            await self._refresh(saved, EventType.GRANTED, actor)

    def _account_of(self, request: AccessRequest) -> AccountConfig | None:
        """The request's account as configured now, if its name still means the same account
        number: names of discovered accounts can move (two accounts once shared a name, one
        closed), and a grant must never land in another account than the one approved."""
        account = self._config().account(request.account_name)
        return account if account and account.account_number == request.account_id else None

    async def _fail(self, request: AccessRequest, reason: str, code: str = "Refused") -> None:
        failed = request.with_changes(status=Status.FAILED, failure_reason=reason)
        saved = await self._commit(
            request, failed, EventType.GRANT_FAILED, SYSTEM_ACTOR, {"reason": reason, "code": code}
        )
        if saved is not None:
            await self._refresh(saved, EventType.GRANT_FAILED, SYSTEM_ACTOR)

    async def _remove_grant(
        self, request: AccessRequest, actor: str, status: Status, event: EventType
    ) -> bool:
        """Remove the policy (idempotent), then record the end. False if already ended."""
        account = self._account_of(request) or _former_account(request)
        details: dict[str, Any] = {"policy_name": request.policy_name}
        if account is None:
            # IAM's own time window still ends the access; record why nothing was removed.
            details["policy_removed"] = False
            details["reason"] = f"account {request.account_name} is no longer configured"
        else:
            await self._granter(account).revoke(request, account)
        ended = request.with_changes(status=status)
        saved = await self._commit(request, ended, event, actor, details)
        if saved is None:
            return False
        await self._refresh(saved, event, actor)
        return True

    def _granter(self, account: AccountConfig) -> Granter:
        granter = self._granters.get(account.access_mode)
        if granter is None:
            raise GrantError(
                f"Access mode {account.access_mode} is not available in this deployment.",
                "UnsupportedAccessMode",
            )
        return granter


def _former_account(request: AccessRequest) -> AccountConfig | None:
    """The account as it was when the request was made, from what the request recorded.

    Lets the sweeper remove a grant whose account has since been removed from the config.
    """
    role = request.extra.get("iam_role")
    mode = request.extra.get("access_mode", AccessMode.INLINE_POLICY.value)
    if not isinstance(role, str) or mode == AccessMode.SESSION_CREDENTIALS.value:
        return None  # session credentials leave nothing in IAM to remove
    try:
        return AccountConfig(
            account_number=request.account_id, iam_role=role, access_mode=AccessMode(mode)
        )
    except ValueError:
        return None


def _refused(reason: str) -> Decision:
    return Decision(Outcome.REFUSE, reason)


def _services(request: AccessRequest) -> list[dict[str, Any]]:
    return [s.to_dict() for s in request.services]


def next_reminder(
    created_at: datetime, now: datetime, schedule_minutes: Sequence[int]
) -> datetime | None:
    """The first reminder time in the schedule (minutes after creation) that is after ``now``."""
    for minutes in sorted(schedule_minutes):
        moment = created_at + timedelta(minutes=minutes)
        if moment > now:
            return moment
    return None


def already_decided(request: AccessRequest) -> str:
    """What a clicker who lost a race is told."""
    who = f" by <@{request.decided_by}>" if request.decided_by not in (None, SYSTEM_ACTOR) else ""
    when = f" at {iso(request.decided_at)}" if request.decided_at else ""
    return f"Request {request.id} was already {request.status.value.lower()}{who}{when}."
