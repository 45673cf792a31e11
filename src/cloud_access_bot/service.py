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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from cloud_access_bot.config import AccessMode, AccountConfig, BotConfig, SelfApproval
from cloud_access_bot.config_rules import warning_of
from cloud_access_bot.domain import (
    approval,
    approvers,
    extension,
    guardrails,
    listing,
    packing,
    routing,
    schedule,
)
from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.approval import Decision, Outcome
from cloud_access_bot.domain.identity_center import (
    makes_own_role,
    needs_identity_center_user,
    no_identity_center_user,
    target_problems,
)
from cloud_access_bot.domain.model import (
    REQUEST_ID,
    SESSION_CUT_OFF,
    AccessRequest,
    EventType,
    MessageRef,
    RecordedAccount,
    ServiceAccess,
    Status,
    can_transition,
    iso,
    utcnow,
)
from cloud_access_bot.domain.policy import build_grant_policy, policy_size, unmappable_actions
from cloud_access_bot.domain.reminders import next_reminder
from cloud_access_bot.domain.rules import ApproverSpec, Limits, Rules
from cloud_access_bot.domain.tickets import ticket_problem
from cloud_access_bot.eligibility import refusal_for, refusal_now
from cloud_access_bot.metrics import Recorder
from cloud_access_bot.ports import (
    Audience,
    ConflictError,
    Directory,
    DirectoryUnavailable,
    Granter,
    GrantError,
    GrantUnavailable,
    IdentityCenterDirectory,
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
#: Times a removal re-reads the request and tries again after losing a conditional write to a
#: change that left the grant active (an extension written meanwhile, say).
REMOVAL_ATTEMPTS = 3
#: Times an approval is judged again after losing its write to another approval.
DECISION_ATTEMPTS = 3
OPEN_STATUSES = frozenset({Status.PENDING, Status.APPROVED, Status.ACTIVE})


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
    #: The resources picked from discovery (not typed): what ``discovered_only`` auto-approve
    #: rules accept.
    discovered: tuple[str, ...] = ()
    #: access_mode permission_set: the permission set asked for instead of services.
    permission_set: str | None = None
    #: A request to join this IAM Identity Center group instead.
    group: str | None = None
    #: When the access should start (None: as soon as it is approved).
    scheduled_start: datetime | None = None

    @property
    def target(self) -> str | None:
        return self.permission_set or self.group

    def request_id(self) -> str:
        if self.submission_id:
            return hashlib.sha256(self.submission_id.encode()).hexdigest()[:12]
        return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class SubmitResult:
    request: AccessRequest | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """A draft judged and built into the request it would store (not stored yet), or why not;
    ``auto`` is the auto-approval it would get (None: people decide)."""

    request: AccessRequest | None = None
    errors: dict[str, str] = field(default_factory=dict)
    auto: Decision | None = None
    #: Its approvers are the fallback list (the primary ones named nobody but the requester).
    fell_back: bool = False
    #: How many people other than the requester its approvers are (``approval.people``).
    people: int = 0


@dataclass
class SweepReport:
    expired: int = 0
    timed_out: int = 0
    reminded: int = 0
    recovered: int = 0
    errors: int = 0
    #: Scheduled grants written at their start.
    started: int = 0

    @property
    def eventful(self) -> bool:
        """Whether the sweep did (or failed) anything worth a log line."""
        return any((self.expired, self.timed_out, self.recovered, self.errors, self.started))


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
        identity_center: IdentityCenterDirectory | None = None,
    ) -> None:
        self._metrics = metrics or Recorder()
        self._identity_center = identity_center
        self._config = config
        self._expiry_concurrency = expiry_concurrency
        self._store = store
        self._granters = granters
        self._directory = directory
        self._notifier = notifier
        self._access_level = access_level
        self._clock = clock
        #: Called after a change to a request of a batch (service_batch keeps the batch's
        #: one approval card up to date with it).
        self.on_batch_change: Callable[[AccessRequest], Awaitable[None]] | None = None

    # -- submit ---------------------------------------------------------------------------

    def validate(self, draft: Draft) -> dict[str, str]:
        """Problems with a draft keyed by field (account, login_role, duration, actions, …)."""
        config = self._config()
        rules = config.rules_in_force()
        errors: dict[str, str] = {}
        if not draft.reason.strip():
            errors["reason"] = "Say why you need this access."
        start = schedule.start_problem(
            draft.scheduled_start, self._clock(), config.max_start_ahead_hours
        )
        if start:
            errors["start"] = start
        if draft.target is not None:
            return (
                errors
                | self._routed_duration(draft, rules)
                | target_problems(
                    rules,
                    draft.account_name,
                    permission_set=draft.permission_set,
                    group=draft.group,
                    minutes=draft.duration_minutes,
                )
            )
        if config.account(draft.account_name) is None:
            errors["account"] = f"Unknown account {draft.account_name!r}: pick one from the list."
            return errors
        # request_permission_set: the request's own permission set is the role it signs in with.
        own_role = makes_own_role(rules, draft.account_name)
        if not own_role and draft.login_role not in config.login_roles_for(draft.account_name):
            errors["login_role"] = (
                f"{draft.login_role!r} is not a login role of {draft.account_name}; "
                f"choose one of {', '.join(config.login_roles_for(draft.account_name))}."
            )
        ticket = ticket_problem(config.accounts[draft.account_name].ticket_pattern, draft.ticket)
        if ticket:
            errors["ticket"] = ticket
        duration_problem = guardrails.check_duration(
            draft.duration_minutes, rules=rules, account_name=draft.account_name
        )
        if duration_problem:
            errors["duration"] = duration_problem
        else:
            errors |= self._routed_duration(draft, rules)
        actions = [a for s in draft.services for a in s.actions]
        if not draft.services or not actions:
            errors["actions"] = "Pick at least one action."
        refusals = guardrails.refused_actions(
            actions,
            rules=rules,
            account_name=draft.account_name,
            access_level=self._access_level,
        )
        if refusals:
            errors["actions"] = " ".join(r.reason for r in refusals)
        if any(not s.resources for s in draft.services):
            errors["resources"] = "Pick at least one resource or enter an ARN."
        else:
            # Every resource, typed or picked (an option value can be forged): problems with
            # typed ones are shown under the typed ARNs, with picked ones under the picker.
            scope = guardrails.scope_problems(draft.services, rules, draft.account_name)
            for key, picked in (("arns", False), ("resources", True)):
                found = [why for arn, why in scope if (arn in draft.discovered) is picked]
                if found:
                    errors[key] = " ".join(found)[:1900]
        if "actions" not in errors and "resources" not in errors:
            # e.g. s3:ListBucket asked for with only object ARNs: refused now, not at approval.
            problems = unmappable_actions(draft.services)
            if problems:
                errors["actions"] = " ".join(problems)[:1900]
        if shown := listing.presentation_problem(draft.services):
            errors["actions"] = shown
        return errors

    async def submit(self, draft: Draft) -> SubmitResult:
        """Validate, store as PENDING with its REQUESTED event, then announce or auto-approve."""
        prepared = await self.prepare(draft)
        request, auto = prepared.request, prepared.auto
        if request is None:
            return SubmitResult(errors=prepared.errors)
        stored, created = await self.store_new(request, fell_back=prepared.fell_back)
        if not created or stored is None:
            # The same submission delivered again: it is already stored (and announced).
            return SubmitResult(request=stored)
        if auto is not None:
            refused = await self._approve_now(stored, SYSTEM_ACTOR, auto, EventType.AUTO_APPROVED)
            if refused is None:
                await self.announce_to_requester(stored.id)
                return SubmitResult(request=stored)
        await self._announce(stored)
        return SubmitResult(request=stored)

    async def prepare(self, draft: Draft) -> Prepared:
        """Everything ``submit`` checks and builds before it stores: the request, or the
        problems keyed by field."""
        errors = self.validate(draft)
        if errors:
            return Prepared(errors=errors)
        config = self._config()
        ineligible = await refusal_for(
            config, draft.account_name, draft.requester_id, self._directory
        )
        if ineligible:
            return Prepared(errors={"account": ineligible})
        rules = config.rules_in_force()
        email = await self._directory.email_of(draft.requester_id)
        if not email:
            return Prepared(
                errors={
                    "account": "Your Slack profile has no email address; the grant is "
                    "scoped to your AWS session name (your email). Ask a Slack admin."
                }
            )
        if needs_identity_center_user(rules, draft.account_name) and not (
            self._identity_center and await self._identity_center.has_user(email)
        ):
            # Told now, before any approver is asked for something that cannot be granted.
            return Prepared(errors={"permission_set": no_identity_center_user(email)})
        routed = self._routing(
            rules, draft.account_name, [a for s in draft.services for a in s.actions], draft.target
        )
        limits = routed.limits
        required = max(
            routed.limits.approvals_required,
            guardrails.approvals_required(
                rules,
                draft.account_name,
                [a for s in draft.services for a in s.actions],
                draft.target,
            ),
        )
        try:
            asked, fell_back, selves, people = await self._approvers_for(
                routed, draft.requester_id, email, required
            )
        except DirectoryUnavailable as unavailable:
            return Prepared(errors={"account": str(unavailable)})
        account = config.accounts[draft.account_name]
        now = self._clock()
        unfair = await self._fair_share_problem(draft, account, email, now)
        if unfair:
            return Prepared(errors={"actions": unfair})
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
            approvers=tuple(asked),
            approvals_required=required,
            permission_set=draft.permission_set,
            group=draft.group,
            timeout_at=now + timedelta(minutes=config.pending_timeout_minutes),
            next_reminder_at=next_reminder(now, now, config.reminder_minutes),
            # Removal, extension and activation act on this, never on what the name means
            # later (a renamed or reused account name, an account that left the config).
            recorded_account=recorded_account(account),
            access_levels=listing.access_levels(draft.services, self._access_level),
            ticket=draft.ticket.strip() if account.ticket_pattern else None,
            warning=warning_of(account),
            scheduled_start=draft.scheduled_start,
            routing_rules=routed.applied,
        )
        auto = self._auto_approval(request, rules, routed, draft.discovered)
        # Only a request a person must decide needs its approval channel.
        if auto is None and (unposted := await self.approval_channel_problem(draft.account_name)):
            return Prepared(errors={"account": unposted})
        if auto is None and config.self_approval is SelfApproval.DENY:
            if not approvers.others(asked, selves):
                return Prepared(errors={"account": nobody_approves(draft.account_name, limits)})
            if people < required:
                return Prepared(
                    errors={
                        "account": too_few(
                            draft.account_name, limits.fallback_approvers, required, people
                        )
                    }
                )
        return Prepared(request=request, auto=auto, fell_back=fell_back, people=people)

    async def store_new(
        self, request: AccessRequest, *, fell_back: bool = False
    ) -> tuple[AccessRequest | None, bool]:
        """Store a prepared request with its REQUESTED event: the request as stored and
        whether this call stored it (False: the same submission was stored before).
        ``fell_back``: its approvers are the fallback list (recorded in the event)."""
        try:
            stored = await self._store.create(
                request,
                request.requester_id,
                {
                    "reason": request.reason,
                    "services": _services(request),
                    **({"ticket": request.ticket} if request.ticket is not None else {}),
                    **({"fallback_approvers": True} if fell_back else {}),
                    **_scheduled(request),
                    **({"rules": list(request.routing_rules)} if request.routing_rules else {}),
                    **({"batch": list(request.batch)} if request.batch else {}),
                },
            )
        except ConflictError as duplicate:
            return duplicate.current, False
        self._metrics.recorded(EventType.REQUESTED, stored, self._clock())
        return stored, True

    async def _announce(self, stored: AccessRequest) -> None:
        """DM the approvers and the requester, post to the approval channel, and remember the
        messages."""
        messages, requester_message = await self._notifier.announce(
            stored, await self.audience(stored)
        )
        await self._remember_messages(stored, messages, requester_message)

    async def announce_to_requester(self, request_id: str) -> None:
        """The requester's message about an auto-approved request, as stored now: once it is
        active, with "I'm done – revoke" and "Extend" as for a request a person approved."""
        current = await self._store.get(request_id)
        if current is not None:
            mine = await self._notifier.announce_to_requester(current)
            await self._remember_messages(current, [], mine)

    async def _remember_messages(
        self, stored: AccessRequest, messages: Sequence[MessageRef], mine: MessageRef | None
    ) -> None:
        await self._store.set_messages(stored.id, messages, mine)
        latest = await self._store.get(stored.id)
        if latest is not None and latest.version != stored.version:
            # It changed before the message refs were stored: bring the messages up to date.
            await self._notifier.refresh(latest, EventType.REQUESTED, SYSTEM_ACTOR)

    # -- decisions ------------------------------------------------------------------------

    async def approve(
        self, request_id: str, clicker: str, break_glass_reason: str | None = None
    ) -> Decision:
        """An approver's click: approve, then write the grant (the sweeper writes any grant
        left APPROVED)."""
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        return await self.approve_loaded(request, clicker, break_glass_reason)

    async def approve_loaded(
        self, request: AccessRequest, clicker: str, break_glass_reason: str | None = None
    ) -> Decision:
        """``approve`` on the request as just read (a batch reads all of its requests to judge
        the click): every write is conditional on the version read, so a request changed since
        is judged again on what is stored then, as in ``approve``."""
        if _overdue(request, self._clock()):
            return await self._time_out_at_click(request, clicker)
        if guardrails.recorded_account_name(request, self._config().rules_in_force()) is None:
            await self._notifier.tell(clicker, guardrails.account_gone(request))
            return _refused(guardrails.account_gone(request))
        if gone := await self._requester_gone(request, clicker):
            return gone

        async def judge(current: AccessRequest) -> Decision:
            pending = current.status is Status.PENDING
            if pending and (twice := await self._approved_as_another(current.approvals, clicker)):
                return twice
            members = await self._current_approvers(current)
            return approval.decide_approval(
                self._under_routes(current),
                clicker,
                clicker_is_approver=clicker in members,
                rules=self._config().rules_in_force(),
                members=approvers.deciders(current.approvers, members),
                clicker_is_requester=await self._is_requester(current, clicker),
                break_glass_reason=break_glass_reason,
                clicker_was_asked=clicker in current.approvers,
                approval_groups=self._approval_groups_now(current),
            )

        decision, request = await self._record_or_decide(
            request,
            clicker,
            judge,
            lambda current: self._under_routes(current).with_changes(
                approvals=(*current.approvals, clicker)
            ),
            EventType.APPROVAL_ADDED,
        )
        if decision.outcome is Outcome.RECORD:
            return decision
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        if decision.break_glass:
            await self._notifier.break_glass(request, clicker, break_glass_reason or "")
            decision = Decision(
                decision.outcome, f"{decision.reason}: {break_glass_reason}", break_glass=True
            )
        refused = await self._approve_now(request, clicker, decision, EventType.APPROVED)
        return refused or decision

    async def deny(self, request_id: str, clicker: str, reason: str) -> Decision:
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = await self._judge_denial(request, clicker)
        return await self._close(
            request, clicker, decision, Status.DENIED, EventType.DENIED, reason
        )

    async def may_deny(self, request_id: str, clicker: str) -> bool:
        """Whether ``clicker`` may deny the request now, so a click on Deny opens the reason
        modal only for them; anyone else is told why not (``deny`` judges again)."""
        request = await self._load(request_id, clicker)
        if request is None:
            return False
        decision = await self._judge_denial(request, clicker)
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return False
        return True

    async def _judge_denial(self, request: AccessRequest, clicker: str) -> Decision:
        return approval.decide_denial(
            request,
            clicker,
            clicker_is_approver=await self._is_approver(request, clicker),
            rules=self._config().rules_in_force(),
            clicker_was_asked=clicker in request.approvers,
            approval_groups=self._approval_groups_now(request),
        )

    async def cancel(self, request_id: str, clicker: str) -> Decision:
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = approval.decide_cancel(request, clicker, now=self._clock())
        return await self._close(
            request, clicker, decision, Status.CANCELLED, EventType.CANCELLED, "cancelled"
        )

    async def revoke(self, request_id: str, clicker: str) -> Decision:
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = approval.decide_revoke(
            request,
            clicker,
            clicker_is_approver=await self._is_approver(request, clicker),
            clicker_is_admin=await self._is_admin(clicker),
            now=self._clock(),
        )
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        if request.status is Status.APPROVED:
            # Scheduled, not started: nothing is in AWS to remove.
            return await self._close(
                request,
                clicker,
                decision,
                Status.REVOKED,
                EventType.REVOKED,
                decision.reason,
                decides=False,
            )
        try:
            ended, current = await self._remove_grant(
                request, clicker, Status.REVOKED, EventType.REVOKED
            )
        except (GrantError, GrantUnavailable) as error:
            reason = error.message if isinstance(error, GrantError) else str(error)
            await self._notifier.tell(
                clicker,
                f"Request `{request.id}` is not revoked yet: removing its access failed "
                f"({reason}). Nothing was recorded; try again in a moment.",
            )
            return _refused(reason)
        if not ended:
            now = approval.describe_status(current) if current else "The request is gone."
            await self._notifier.tell(clicker, f"Request `{request.id}` was not revoked: {now}")
            return _refused(now)
        return decision

    async def viewable(self, request_id: str, clicker: str) -> AccessRequest | None:
        """The request, for someone who may see all of it: its requester, the approvers it was
        sent to, the account's approvers now and admins. Anyone else is told no (None)."""
        request = await self._load(request_id, clicker)
        if request is None:
            return None
        if (
            await self._is_requester(request, clicker)
            or clicker in request.approvers
            or await self._is_approver(request, clicker)
            or await self._is_admin(clicker)
        ):
            return request
        await self._notifier.tell(
            clicker, "Only the requester, the approvers and admins can see this request."
        )
        return None

    async def ask_extension(self, request_id: str, clicker: str, minutes: int) -> Decision:
        """The requester asks for more time; approvers decide as for a new request."""
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")
        decision = approval.decide_extension(
            request, clicker, extra_minutes=minutes, rules=self._config().rules_in_force()
        )
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        if ineligible := await self._ineligibility(request):
            refusal = f"Request `{request.id}` may not be extended: {ineligible}"
            await self._notifier.tell(clicker, refusal)
            return _refused(refusal)
        asked = extension.asked(request, minutes)
        saved = await self._commit(
            request,
            asked,
            EventType.EXTENSION_REQUESTED,
            clicker,
            {"minutes": minutes, "reason": decision.reason},
            notify_loser=clicker,
        )
        if saved is not None:
            await self._notifier.ask_extension(saved, await self.audience(saved))
        return decision

    async def decide_extension(self, request_id: str, clicker: str, *, approve: bool) -> Decision:
        """An approver extends the window in place (same policy, later end) or refuses."""
        request = await self._load(request_id, clicker)
        if request is None:
            return _refused("unknown request")

        async def judge(current: AccessRequest) -> Decision:
            if approve and (
                twice := await self._approved_as_another(current.extension_approvals, clicker)
            ):
                return twice
            members = await self._current_approvers(current)
            return approval.decide_extension_approval(
                self._under_routes(current),
                clicker,
                clicker_is_approver=clicker in members,
                clicker_is_requester=await self._is_requester(current, clicker),
                members=approvers.deciders(current.approvers, members),
                rules=self._config().rules_in_force(),
                approve=approve,
                clicker_was_asked=clicker in current.approvers,
            )

        if approve and (gone := await self._requester_gone(request, clicker)):
            return gone

        def with_approval(current: AccessRequest) -> AccessRequest:
            return extension.approved_by(current, clicker)

        decision, request = await self._record_or_decide(
            request, clicker, judge, with_approval, EventType.EXTENSION_APPROVAL_ADDED
        )
        if decision.outcome is Outcome.RECORD:
            return decision
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        minutes = request.pending_extension
        if not approve:
            denied = extension.cleared(request)
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
        await self._extend(request, clicker, minutes)
        return decision

    async def _extend(self, request: AccessRequest, clicker: str, minutes: int) -> None:
        assert request.starts_at is not None
        account = self._grant_account(request)
        asked = minutes
        minutes, refusal = self._extension_under_rules(request, asked)
        refusal = refusal or await self._ineligibility(request) or ""
        if refusal:
            await self._refuse_extension(request, clicker, refusal)
            return
        if minutes < asked:
            await self._tell_both(
                request,
                clicker,
                f"Extension of request `{request.id}`: the maximum duration for "
                f"{request.account_name} is now {request.duration_minutes + minutes} minutes, "
                f"so it adds {minutes} minutes instead of the {asked} asked for.",
            )
        longer = extension.extended(request, minutes)
        end = longer.expires_at
        assert end is not None
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
            await self._granter(account).revoke(longer, account)
            await self._notifier.tell(clicker, "The grant ended before the extension was written.")
            return
        await self._refresh(saved, EventType.EXTENDED, clicker)

    def _extension_under_rules(self, request: AccessRequest, minutes: int) -> tuple[int, str]:
        """The minutes an approved extension may add under the rules in force now
        (``guardrails.recheck`` of the longer grant), and why not when it may not.

        Over the account's current maximum the extension is capped to reach it; when the grant
        already has the maximum (or more) there is nothing left to add, and it is refused."""
        longer = request.with_changes(duration_minutes=request.duration_minutes + minutes)
        verdict = self._recheck(longer, approving=False)
        if verdict.refusal:
            return 0, verdict.refusal
        if verdict.capped_minutes is None:
            return minutes, ""
        room = verdict.capped_minutes - request.duration_minutes
        if room < 1:
            return 0, (
                f"The maximum duration for {request.account_name} is now "
                f"{verdict.capped_minutes} minutes, which this grant already has "
                f"({request.duration_minutes} minutes); the extension was refused."
            )
        return room, ""

    async def _refuse_extension(self, request: AccessRequest, clicker: str, reason: str) -> None:
        """Record an approved extension that current rules refuse, and tell both why."""
        cleared = extension.cleared(request)
        details = {"minutes": request.pending_extension, "reason": reason}
        saved = await self._commit(
            request, cleared, EventType.EXTENSION_DENIED, SYSTEM_ACTOR, details
        )
        if saved is not None:
            await self._tell_both(saved, clicker, f"Extension of request `{request.id}`: {reason}")

    async def record_reconciled(self, request_id: str, details: dict[str, Any]) -> None:
        """Audit a grant that reconciliation removed from IAM (its status does not change)."""
        request = await self._store.get(request_id)
        if request is None:
            log.warning("reconciled grant %s has no request record: %s", request_id, details)
            return
        await self._commit(request, request, EventType.RECONCILED, SYSTEM_ACTOR, details)

    async def record_usage_review(
        self, request: AccessRequest, review: RightSizing | None, details: dict[str, Any]
    ) -> bool:
        """Audit what an ended grant used (USAGE_REVIEWED, its status unchanged) and tell the
        requester; ``review`` None records why there is none (``details``). The write takes
        the review off the due index; False if another sweeper recorded it first."""
        done = request.with_changes(usage_review_at=None)
        saved = await self._commit(request, done, EventType.USAGE_REVIEWED, SYSTEM_ACTOR, details)
        if saved is not None and review is not None:
            await self._notifier.usage_reviewed(saved, review)
        return saved is not None

    async def smaller_set(
        self, request_id: str, clicker: str
    ) -> tuple[AccessRequest, tuple[str, ...]] | None:
        """The request and the actions its recorded usage review found used, for its requester
        to ask for again; anyone else, or a request without such a review, is told (None)."""
        request = await self._load(request_id, clicker)
        if request is None:
            return None
        if not await self._is_requester(request, clicker):
            await self._notifier.tell(
                clicker, "Only the requester can ask for the same access again."
            )
            return None
        reviews = [
            e for e in await self._store.events(request.id) if e.type is EventType.USAGE_REVIEWED
        ]
        recorded = reviews[-1].details.get("smaller_set") if reviews else None
        used = tuple(str(a) for a in recorded or ())
        if not used:
            await self._notifier.tell(
                clicker, f"Request `{request.id}` used none of its actions: nothing to ask for."
            )
            return None
        return request, used

    def _usage_review_at(self, request: AccessRequest) -> datetime | None:
        """When an ending grant's use is to be read from CloudTrail: after the configured delay
        (CloudTrail delivers late); None for a grant without actions of its own (permission
        sets, groups) or when reviews are off."""
        delay = self._config().usage_review_delay_minutes
        if delay is None or not request.actions or request.policy_document is None:
            return None
        return self._clock() + timedelta(minutes=delay)

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
                ended = await self._guard(report, removal)
                if ended and ended[0]:
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
            if await self._guard(report, self._time_out(request, now)) is not None:
                report.timed_out += 1
        for request in await self._store.due(Status.APPROVED, now, limit=100):
            if not schedule.ready_to_grant(request, now, STUCK_APPROVAL):
                continue  # approved moments ago: its approval is writing the grant
            await self._guard(report, self._activate(request, SYSTEM_ACTOR))
            if schedule.is_scheduled(request):
                report.started += 1
            else:
                report.recovered += 1
        return report

    # -- internals ------------------------------------------------------------------------

    async def _time_out(self, request: AccessRequest, now: datetime) -> AccessRequest | None:
        """PENDING → TIMED_OUT (conditional write); None if the request changed first."""
        timed_out = request.with_changes(
            status=Status.TIMED_OUT, decided_at=now, decided_by=SYSTEM_ACTOR
        )
        saved = await self._commit(
            request,
            timed_out,
            EventType.TIMED_OUT,
            SYSTEM_ACTOR,
            {"reason": "no decision before the pending timeout"},
        )
        if saved is not None:
            await self._refresh(saved, EventType.TIMED_OUT, SYSTEM_ACTOR)
        return saved

    async def _time_out_at_click(self, request: AccessRequest, clicker: str) -> Decision:
        """An approval clicked after the pending timeout: the request times out now, without
        waiting for the sweeper, and the clicker and the requester are told."""
        assert request.timeout_at is not None
        text = (
            f"Request `{request.id}` timed out at {request.timeout_at:%Y-%m-%d %H:%M} UTC "
            "without a decision; it can no longer be approved. Ask again."
        )
        saved = await self._time_out(request, self._clock())
        if saved is None:
            current = await self._store.get(request.id)
            text = already_decided(current) if current else "That request does not exist any more."
            await self._notifier.tell(clicker, text)
        else:
            await self._tell_both(saved, clicker, text)
        return _refused(text)

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
        if request.messages and request.batch_id in (None, request.id):
            # A batch's approvers are reminded once, by its first request.
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
        """Update every message about the request. A request read before its announcement's
        message refs were stored has none: they are re-read then."""
        stored = None if _announced(request) else await self._store.get(request.id)
        if stored is not None:
            request = request.with_changes(
                messages=stored.messages, requester_message=stored.requester_message
            )
        await self._notifier.refresh(request, event, actor)
        if request.batch and self.on_batch_change is not None:
            await self.on_batch_change(request)

    async def _load(self, request_id: str, clicker: str) -> AccessRequest | None:
        request = await self._store.get(request_id) if REQUEST_ID.match(request_id) else None
        if request is None:
            await self._notifier.tell(
                clicker, "That request does not exist (the button may have been tampered with)."
            )
        return request

    async def _record_or_decide(
        self,
        request: AccessRequest,
        clicker: str,
        judge: Callable[[AccessRequest], Awaitable[Decision]],
        with_approval: Callable[[AccessRequest], AccessRequest],
        event: EventType,
    ) -> tuple[Decision, AccessRequest]:
        """Judge an approval click; one that only adds to the count (RECORD) is written here.

        When another write came first (two approvers clicking at once), the click is judged
        again on what is stored now instead of being lost. Returns the decision and the
        request it was made on.
        """
        for _ in range(DECISION_ATTEMPTS):
            decision = await judge(request)
            if decision.outcome is not Outcome.RECORD:
                return decision, request
            details = {"reason": decision.reason}
            try:
                saved = await self._write(request, with_approval(request), event, clicker, details)
            except ConflictError as conflict:
                if conflict.current is None:
                    return _refused("That request does not exist any more."), request
                request = conflict.current
                continue
            await self._refresh(saved, event, clicker)
            await self._notifier.tell(clicker, decision.reason)
            return decision, saved
        busy = "Your approval was not recorded: others decided at the same moment. Click again."
        return _refused(busy), request

    async def _is_approver(self, request: AccessRequest, user_id: str) -> bool:
        """Membership at click time, not at announce time: a removed member is refused."""
        return user_id in await self._current_approvers(request)

    async def _current_approvers(self, request: AccessRequest) -> list[str]:
        """The approvers now (fresh membership) of the AWS account the request was made in,
        under whatever name it is configured now; nobody if that cannot be known."""
        routed = self._routing_now(request)
        if routed is None:
            return []
        try:
            # The fallback approvers count too: a request sent to them (its primary approvers
            # named nobody then) stays decidable by them while they remain in that list.
            primary = await self._members_of_all(routed.approver_sets, fresh=True)
            fallback = await self._directory.resolve(routed.limits.fallback_approvers, fresh=True)
            return list(dict.fromkeys([*primary, *fallback]))
        except DirectoryUnavailable as unavailable:
            log.warning("approvers of %s unknown: %s", request.id, unavailable)
            return []

    async def _approvers_for(
        self, routed: routing.Routing, requester: str, email: str, required: int
    ) -> tuple[list[str], bool, set[str], int]:
        """Who a new request goes to (``approvers.choose``), whether the fallback list was
        needed, which of them are the requester (under any of their Slack accounts) and how
        many people other than the requester they are. The fallback list joins when the
        primary approvers are fewer than ``required`` such people."""
        limits = routed.limits
        primary = await self._members_of_all(routed.approver_sets)
        selves = await self._selves(primary, requester, email)
        people = await self._people(approvers.others(primary, selves))
        if limits.fallback_approvers and people < required:
            fallback = await self._directory.resolve(limits.fallback_approvers)
            selves |= await self._selves(fallback, requester, email)
            asked, fell_back = approvers.choose(primary, fallback, selves)
            if fell_back:
                return asked, True, selves, await self._people(approvers.others(asked, selves))
        return list(primary), False, selves, people

    async def _people(self, ids: Sequence[str]) -> int:
        """How many people these Slack accounts are (one person's two accounts count once)."""
        emails = [await self._directory.email_of(person) for person in dict.fromkeys(ids)]
        return approval.people(emails, self._config().email_alias_domains)

    async def _selves(self, people: Sequence[str], requester: str, email: str) -> set[str]:
        """The requester's own Slack ids among ``people``: their id, and any account whose
        email is theirs (``approval.same_person``), who could never approve their request."""
        aliases = self._config().email_alias_domains
        return {requester} | {
            person
            for person in people
            if approval.same_person(email, await self._directory.email_of(person), aliases)
        }

    async def approval_channel_problem(self, account_name: str) -> str | None:
        """When the approvers get no DM, an approval channel the bot cannot find would leave
        the request with nobody told: refused at submit, with why (not an auto-approved one,
        which no person decides)."""
        account = self._config().rules_for(account_name)
        if account.approval_dms or not account.approval_channel:
            return None
        if await self._directory.channel_id(account.approval_channel):
            return None
        return (
            f"Requests for {account_name} are posted to the channel "
            f"{account.approval_channel}, which I cannot find (or am not in). Nothing was "
            "stored; ask the bot's admins to invite me there or fix approval_channel."
        )

    async def audience(self, request: AccessRequest) -> Audience:
        """The approval channel and the information-only people and channels of a request,
        under the configuration now (no approver of the request gets an information copy)."""
        config = self._config()
        name = guardrails.recorded_account_name(request, config.rules_in_force())
        if name is None:
            return Audience()
        account = config.rules_for(name)
        notify = account.limits_for(request.target).notify
        channels = [s for s in notify if s.kind is approvers.Kind.CHANNEL]
        people = [s for s in notify if s.kind is not approvers.Kind.CHANNEL]
        try:
            notified = await self._directory.resolve(people)
        except DirectoryUnavailable:
            notified = []
        channel_ids = [await self._directory.channel_id(c.value) for c in channels]
        approval_channel = (
            await self._directory.channel_id(account.approval_channel)
            if account.approval_channel
            else None
        )
        return Audience(
            dms=account.approval_dms,
            channel=approval_channel,
            notified=tuple(approvers.information_only(notified, request.approvers)),
            notified_channels=tuple(c for c in channel_ids if c and c != approval_channel),
        )

    async def _requester_gone(self, request: AccessRequest, clicker: str) -> Decision | None:
        """A refusal when the requester is no longer an active member of the workspace (an
        offboarded person is granted nothing more), else None."""
        if await self._directory.is_active(request.requester_id):
            return None
        text = (
            f"<@{request.requester_id}> is no longer an active member of this workspace (or "
            f"Slack could not confirm it); request `{request.id}` was not approved."
        )
        await self._notifier.tell(clicker, text)
        return _refused(text)

    async def _is_admin(self, user_id: str) -> bool:
        """A member of ``admin_groups`` now (who may revoke any grant)."""
        groups = self._config().admin_groups
        if not groups:
            return False
        try:
            return user_id in await self._directory.members_of(groups, fresh=True)
        except DirectoryUnavailable:
            return False

    async def _is_requester(self, request: AccessRequest, user_id: str) -> bool:
        """The requester under any of their Slack accounts: the same id, or an email that is
        the requester's once case, ``+tag`` and configured alias domains are set aside."""
        if user_id == request.requester_id:
            return True
        email = await self._directory.email_of(user_id)
        aliases = self._config().email_alias_domains
        return approval.same_person(request.requester_email, email, aliases)

    async def _approved_as_another(self, earlier: Sequence[str], clicker: str) -> Decision | None:
        """The refusal when ``clicker`` already approved under another of their Slack accounts
        (``approval.same_person``): N of M approvals are N people, not N Slack accounts."""
        email = await self._directory.email_of(clicker)
        aliases = self._config().email_alias_domains
        for person in dict.fromkeys(earlier):
            other = await self._directory.email_of(person) if person != clicker else None
            if approval.same_person(email, other, aliases):
                return _refused(
                    f"You already approved this as <@{person}> (the same person under another "
                    "Slack account); another approver must."
                )
        return None

    async def _fair_share_problem(
        self, draft: Draft, account: AccountConfig, email: str, now: datetime
    ) -> str | None:
        """Whether this request would take more than the requester's share of a shared login
        role (modes that write to one: inline and managed policies)."""
        if account.access_mode is AccessMode.SESSION_CREDENTIALS:
            return None
        config = self._config()
        mine = await self._store.for_user(draft.requester_id, limit=50)
        held = [
            _grant_size(r)
            for r in mine
            if r.status in OPEN_STATUSES
            and r.account_id == account.account_number
            and r.login_role == draft.login_role
        ]
        new_size = _estimated_size(draft.services, email, now, draft.duration_minutes)
        share = packing.FairShare(
            config.max_grants_per_requester_role, config.max_grant_chars_per_requester_role
        )
        return packing.fair_share_problem(
            held, new_size, share, draft.login_role, draft.account_name
        )

    def _grant_account(self, request: AccessRequest) -> AccountConfig | None:
        """The recorded account to write a grant in, while its account number is still
        configured (under any name); None once it is not."""
        if not any(
            a.account_number == request.account_id for a in self._config().accounts.values()
        ):
            return None
        return self._recorded_account(request)

    def _recorded_account(self, request: AccessRequest) -> AccountConfig | None:
        """The account as the request recorded it (number, role, access mode…), completed
        from the configuration of the same account number for what was not recorded."""
        same = [
            a for a in self._config().accounts.values() if a.account_number == request.account_id
        ]
        base = same[0].model_dump() if same else {}
        recorded: dict[str, Any] = {**request.recorded_account.recorded()}
        if request.permission_set and not base.get("permission_sets"):
            # An assignment has no time window of its own: it must stay removable.
            recorded["permission_sets"] = [request.permission_set]
        try:
            return AccountConfig.model_validate(
                {**base, **recorded, "account_number": request.account_id}
            )
        except ValidationError:
            return None

    async def _write(
        self,
        current: AccessRequest,
        updated: AccessRequest,
        event: EventType,
        actor: str,
        details: dict[str, Any],
    ) -> AccessRequest:
        """Conditional write, counted in the metrics; ConflictError if someone else changed the
        request first.

        A status change must be one the lifecycle allows (``TRANSITIONS``): anything else is a
        bug, refused before it reaches the store.
        """
        if updated.status is not current.status and not can_transition(
            current.status, updated.status
        ):
            raise ValueError(f"{current.status} → {updated.status} is not a lifecycle step")
        saved = await self._store.commit(current, updated, event, actor, details)
        self._metrics.recorded(event, saved, self._clock())
        return saved

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
        """Conditional write; None if someone else changed the request first."""
        try:
            return await self._write(current, updated, event, actor, details)
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
        *,
        decides: bool = True,
    ) -> Decision:
        """End the request in ``status``; ``decides``: the clicker's is its decision (deny,
        cancel), else who decided it stays (a revocation ends an approved request)."""
        if decision.outcome is Outcome.REFUSE:
            await self._notifier.tell(clicker, decision.reason)
            return decision
        closed = request.with_changes(status=status)
        if decides:
            closed = closed.with_changes(
                decided_by=clicker, decided_at=self._clock(), decision_reason=reason
            )
        saved = await self._commit(
            request, closed, event, clicker, {"reason": reason}, notify_loser=clicker
        )
        if saved is not None:
            await self._refresh(saved, event, clicker)
        return decision

    def _recheck(
        self, request: AccessRequest, *, approving: bool, now: datetime | None = None
    ) -> guardrails.Recheck:
        """``guardrails.recheck`` under the configuration in force now, the request's rules on
        what is asked included."""
        routed = self._routing_now(request)
        return guardrails.recheck(
            request,
            self._config().rules_in_force(),
            now=now or self._clock(),
            access_level=self._access_level,
            approving=approving,
            max_minutes=routed.limits.max_duration_minutes if routed else None,
        )

    async def _no_longer_eligible(self, request: AccessRequest) -> str | None:
        """Why the requester may no longer have this access (eligibility under the
        configuration in force now, checked at approval and at grant write), else None."""
        why = await self._ineligibility(request)
        return None if why is None else f"Request `{request.id}` was not granted: {why}"

    async def _ineligibility(self, request: AccessRequest) -> str | None:
        """That the requester may no longer request the request's account, and why (also
        checked when an extension is asked for and approved), else None."""
        why = await refusal_now(
            self._config(), request.account_id, request.requester_id, self._directory
        )
        if why is None:
            return None
        return (
            f"<@{request.requester_id}> may no longer request access to "
            f"{request.account_name} under the current configuration. {why}"
        )

    # -- rules on what is asked (domain.routing) ------------------------------------------

    def _routing(
        self, rules: Rules, account_name: str, actions: Sequence[str], target: str | None
    ) -> routing.Routing:
        return routing.route(rules.accounts[account_name], actions, target, self._access_level)

    def _routing_now(self, request: AccessRequest) -> routing.Routing | None:
        """The request's routing under the rules in force now, in the account it was made in
        (None once that account is no longer configured)."""
        rules = self._config().rules_in_force()
        name = guardrails.recorded_account_name(request, rules)
        return None if name is None else self._routing(rules, name, request.actions, request.target)

    def _routed_duration(self, draft: Draft, rules: Rules) -> dict[str, str]:
        """The duration problem under the draft's rules on what is asked, by field."""
        if rules.account(draft.account_name) is None:
            return {}
        actions = [a for s in draft.services for a in s.actions]
        routed = self._routing(rules, draft.account_name, actions, draft.target)
        problem = routed.duration_problem(draft.duration_minutes)
        return {"duration": problem} if problem else {}

    def _approval_groups_now(self, request: AccessRequest) -> tuple[str, ...]:
        """The request's approval groups under the rules in force now (empty: account gone)."""
        routed = self._routing_now(request)
        return routed.limits.approval_groups if routed else ()

    def _under_routes(self, request: AccessRequest) -> AccessRequest:
        """The request needing at least the approvals its rules on what is asked require now
        (a configuration reloaded since submission may require more, never fewer)."""
        routed = self._routing_now(request)
        if routed is None:
            return request
        required = max(request.approvals_required, routed.limits.approvals_required)
        return request.with_changes(approvals_required=required)

    def _auto_approval(
        self,
        request: AccessRequest,
        rules: Rules,
        routed: routing.Routing,
        discovered: Sequence[str],
    ) -> Decision | None:
        """Auto-approval by the request's rules on what is asked, else by ``auto_approve:``
        unless one of those rules requires a person."""
        reason = routing.auto_approved(routed, request.services, discovered)
        if reason is not None:
            return Decision(Outcome.APPROVE, reason)
        if routed.needs_person:
            return None
        return approval.auto_approval(request, rules, self._access_level, discovered)

    async def _members_of_all(
        self, approver_sets: Sequence[Sequence[ApproverSpec]], *, fresh: bool = False
    ) -> list[str]:
        """The people named by every set (``routing.Routing.approver_sets``)."""
        members = [await self._directory.resolve(s, fresh=fresh) for s in approver_sets]
        return routing.members_of_all(members)

    async def _approve_now(
        self,
        request: AccessRequest,
        actor: str,
        decision: Decision,
        event: EventType,
    ) -> Decision | None:
        """Approve under the rules in force now (``guardrails.recheck``), else the refusal."""
        now = self._clock()
        verdict = self._recheck(request, approving=True, now=now)
        refused = verdict.refusal or await self._no_longer_eligible(request)
        if refused:
            await self._tell_both(request, actor, refused)
            return _refused(refused)
        note = ""
        # ``request`` stays as stored: the commit seals what changed from it, the cap included.
        granted = request
        if verdict.capped_minutes:
            note = verdict.cap_note(request.duration_minutes, request.account_name)
            decision = Decision(decision.outcome, f"{decision.reason} {note}", decision.break_glass)
            granted = request.with_changes(duration_minutes=verdict.capped_minutes)
        start, end = schedule.window(granted, now)
        approved = granted.with_changes(
            status=Status.APPROVED,
            approvals=(*request.approvals, actor) if actor != SYSTEM_ACTOR else request.approvals,
            decided_by=actor,
            decided_at=now,
            decision_reason=decision.reason,
            starts_at=start,
            expires_at=end,
        )
        details: dict[str, Any] = {"reason": decision.reason, "break_glass": decision.break_glass}
        if note:
            details["duration_minutes"] = granted.duration_minutes
        details |= _scheduled(approved)
        saved = await self._commit(request, approved, event, actor, details, notify_loser=actor)
        if saved is None:
            return None
        if note:
            await self._tell_both(saved, actor, f"Request `{saved.id}`: {note}")
        await self._refresh(saved, event, actor)
        if schedule.is_scheduled(saved):
            # Nothing is granted before the start: the sweeper writes the grant then.
            await self._tell_both(saved, actor, scheduled_text(saved))
            return None
        await self._activate_or_defer(saved, actor)
        return None

    async def auto_approve(self, request: AccessRequest, decision: Decision) -> Decision | None:
        """Approve a stored request as the bot (an auto-approve rule matched it); the refusal
        when the rules in force now refuse it, else None."""
        return await self._approve_now(request, SYSTEM_ACTOR, decision, EventType.AUTO_APPROVED)

    async def may_approve(self, request: AccessRequest, user_id: str) -> bool:
        """Whether ``user_id`` is one of the request's account's approvers now."""
        return await self._is_approver(request, user_id)

    async def _activate_or_defer(self, saved: AccessRequest, actor: str) -> None:
        """Write the grant; when AWS cannot be reached the approval stands and the sweeper
        writes it later (the person who acted is told)."""
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

    async def _tell_both(self, request: AccessRequest, actor: str, text: str) -> None:
        """Tell the person who acted and the requester (once when they are the same)."""
        for person in dict.fromkeys((actor, request.requester_id)):
            if person != SYSTEM_ACTOR:
                await self._notifier.tell(person, text)

    async def _activate(self, request: AccessRequest, actor: str) -> None:
        """APPROVED → ACTIVE once the policy is in place, or FAILED with the reason."""
        account = self._grant_account(request)
        start, end = request.starts_at, request.expires_at
        assert start is not None and end is not None
        if account is None:
            await self._fail(request, f"Account {request.account_name} is no longer configured.")
            return
        if end <= self._clock():
            await self._fail(request, "The approved window ended before the grant was written.")
            return
        verdict = self._recheck(request, approving=False)
        refusal = verdict.refusal
        if not refusal and schedule.is_scheduled(request):
            refusal = await self._refusal_at_start(request)
        if refusal:
            await self._fail(request, refusal, "RulesChanged")
            return
        ineligible = await self._no_longer_eligible(request)
        if ineligible:
            await self._tell_both(request, actor, ineligible)
            await self._fail(request, ineligible, "NotEligible")
            return
        # ``request`` stays as stored: the commit seals what changed from it, the cap included.
        granted = request
        if verdict.capped_minutes:
            note = verdict.cap_note(request.duration_minutes, request.account_name)
            await self._tell_both(request, actor, f"Request `{request.id}`: {note}")
            end = min(end, start + timedelta(minutes=verdict.capped_minutes))
            granted = request.with_changes(duration_minutes=verdict.capped_minutes, expires_at=end)
        try:
            result = await self._granter(account).grant(granted, account, start, end)
        except GrantError as error:
            await self._fail(request, error.message, error.code)
            return
        active = granted.with_changes(
            status=Status.ACTIVE,
            policy_name=result.policy_name,
            policy_document=json.dumps(result.policy_document, separators=(",", ":")),
        )
        details = {
            "policy_name": result.policy_name,
            "expires_at": iso(end),
            "policy_document": result.policy_document,
        }
        saved = await self._commit(request, active, EventType.GRANTED, actor, details)
        if saved is not None:
            await self._refresh(saved, EventType.GRANTED, actor)
            if schedule.is_scheduled(request):
                await self._tell_approvers(saved, started_text(saved))
            return
        current = await self._store.get(request.id)
        if current is not None and current.status in (Status.CANCELLED, Status.REVOKED):
            # Cancelled at its start while the grant was being written: take it back.
            await self._granter(account).revoke(active, account)

    async def _tell_approvers(self, request: AccessRequest, text: str) -> None:
        """A DM to each approver the request was sent to (not the requester); none when it was
        never sent to them (auto-approved)."""
        if not request.messages:
            return
        people = [a for a in request.approvers if a != request.requester_id]
        await asyncio.gather(*(self._notifier.tell(person, text) for person in people))

    async def _refusal_at_start(self, request: AccessRequest) -> str | None:
        """Why a scheduled grant may not start now although it was approved earlier: its
        requester left the workspace or may no longer ask for the account."""
        if not await self._directory.is_active(request.requester_id):
            return (
                f"<@{request.requester_id}> is no longer an active member of this workspace "
                "(or Slack could not confirm it); nothing was granted at the scheduled start."
            )
        name = guardrails.recorded_account_name(request, self._config().rules_in_force())
        if name is None:
            return guardrails.account_gone(request)
        refusal = await refusal_for(self._config(), name, request.requester_id, self._directory)
        return f"{refusal} Nothing was granted at the scheduled start." if refusal else None

    async def _fail(self, request: AccessRequest, reason: str, code: str = "Refused") -> None:
        failed = request.with_changes(status=Status.FAILED, failure_reason=reason)
        saved = await self._commit(
            request, failed, EventType.GRANT_FAILED, SYSTEM_ACTOR, {"reason": reason, "code": code}
        )
        if saved is not None:
            await self._refresh(saved, EventType.GRANT_FAILED, SYSTEM_ACTOR)
            if schedule.is_scheduled(request):
                # Approved a while ago: the approvers are told as well as the requester.
                await self._tell_approvers(
                    saved, f"Scheduled request `{saved.id}` did not start: {reason}"
                )

    async def _remove_grant(
        self, request: AccessRequest, actor: str, status: Status, event: EventType
    ) -> tuple[bool, AccessRequest | None]:
        """Remove the grant in the recorded account (idempotent), then record the end.

        A removal that fails raises and records nothing. When the end cannot be written because
        the request changed meanwhile (an extension written while it was being revoked), the
        request is re-read: still active, its current grant is removed and the end recorded;
        already ended, nothing more is done. Returns whether this call ended it, and the
        request as stored now.
        """
        for _ in range(REMOVAL_ATTEMPTS):
            account = self._recorded_account(request)
            details: dict[str, Any] = {"policy_name": request.policy_name}
            if account is None:
                # Nothing recorded to act on (a record from before accounts were recorded):
                # IAM's own time window still ends the access; record why nothing was removed.
                details["policy_removed"] = False
                details["reason"] = f"account {request.account_name} is not known any more"
            else:
                details["account_id"] = account.account_number
                removed = await self._granter(account).revoke(request, account)
                if account.access_mode is AccessMode.SESSION_CREDENTIALS:
                    details[SESSION_CUT_OFF] = removed
            ended = request.with_changes(status=status)
            ended = ended.with_changes(usage_review_at=self._usage_review_at(request))
            if SESSION_CUT_OFF in details:
                ended = ended.with_changes(session_cut_off=removed)
            try:
                saved = await self._write(request, ended, event, actor, details)
            except ConflictError as conflict:
                current = conflict.current
                if current is None or current.status is not Status.ACTIVE:
                    return False, current
                if status is Status.EXPIRED and not _ended(current, self._clock()):
                    # Extended while expiring: the new window stands, so is its grant.
                    await self._restore(current)
                    return False, current
                request = current
                continue
            await self._refresh(saved, event, actor)
            return True, saved
        return False, request

    async def _restore(self, request: AccessRequest) -> None:
        """Write an active grant again (after a removal that raced its extension)."""
        account = self._grant_account(request)
        if account and request.starts_at and request.expires_at:
            await self._granter(account).grant(
                request, account, request.starts_at, request.expires_at
            )

    def _granter(self, account: AccountConfig) -> Granter:
        granter = self._granters.get(account.access_mode)
        if granter is None:
            raise GrantError(
                f"Access mode {account.access_mode} is not available in this deployment.",
                "UnsupportedAccessMode",
            )
        return granter


def _announced(request: AccessRequest) -> bool:
    """Whether the request's message refs were stored: they are stored once, and only a
    request without them is announced again (``sweep``)."""
    return bool(request.messages)


def _overdue(request: AccessRequest, now: datetime) -> bool:
    """A pending request past its timeout (which the sweeper may not have seen yet)."""
    return (
        request.status is Status.PENDING
        and request.timeout_at is not None
        and now >= request.timeout_at
    )


def _ended(request: AccessRequest, now: datetime) -> bool:
    return request.expires_at is None or request.expires_at <= now


def recorded_account(account: AccountConfig) -> RecordedAccount:
    """What a request records of its account at submission."""
    return RecordedAccount(
        iam_role=account.iam_role,
        access_mode=account.access_mode.value,
        managed_policy_name=account.managed_policy_name,
        managed_policy_path=account.managed_policy_path,
        broker_role=account.broker_role,
        revoke_cuts_off_session=account.revoke_cuts_off_session,
    )


#: Stands in for the login role's RoleId when a grant's size is estimated at submission.
_SOME_ROLE_ID = "A" * packing.ROLE_ID_LENGTH


def _estimated_size(
    services: Sequence[ServiceAccess], email: str, now: datetime, minutes: int
) -> int:
    """The characters a grant of ``services`` will take on a login role (its policy built as
    it will be written, with a stand-in RoleId of the right length)."""
    try:
        built = build_grant_policy(
            services,
            userid=f"{_SOME_ROLE_ID}:{email}",
            not_before=now,
            not_after=now + timedelta(minutes=minutes),
            sid="0" * 12,
        )
    except ValueError:
        return 0  # refused by validation already; no share to judge
    return policy_size(packing.compact(built))


def _grant_size(request: AccessRequest) -> int:
    """The characters an open request takes (or will take) on its login role."""
    if request.policy_document:
        return policy_size(request.policy_document)
    return _estimated_size(
        request.services, request.requester_email, request.created_at, request.duration_minutes
    )


def _refused(reason: str) -> Decision:
    return Decision(Outcome.REFUSE, reason)


def _services(request: AccessRequest) -> list[dict[str, Any]]:
    return [s.to_dict() for s in request.services]


def nobody_approves(account_name: str, limits: Limits) -> str:
    """Why a request cannot be stored: nobody but the requester could decide on it."""
    fallback = (
        f"nor do its fallback approvers ({approvers.describe(limits.fallback_approvers)})"
        if limits.fallback_approvers
        else "and no fallback_approvers are configured"
    )
    return (
        f"Nobody can approve requests for {account_name}: its approvers "
        f"({approvers.describe(limits.approvers)}) name no active member other than you, "
        f"{fallback}. Nothing was stored; tell the bot's admins."
    )


def too_few(
    account_name: str, fallback_approvers: Sequence[ApproverSpec], required: int, people: int
) -> str:
    """Why a request cannot be stored: it needs more approvals than people could give."""
    fallback = (
        f" (with its fallback approvers, {approvers.describe(fallback_approvers)})"
        if fallback_approvers
        else ""
    )
    who = "1 person" if people == 1 else f"{people} people"
    return (
        f"This request for {account_name} needs {required} approvals from different people, "
        f"but its approvers{fallback} are only {who} other than you, so it could never be "
        "approved. Nothing was stored; tell the bot's admins."
    )


def _scheduled(request: AccessRequest) -> dict[str, Any]:
    """The audit details of a scheduled start: when it was asked to start, and from approval
    the window fixed for it."""
    if request.scheduled_start is None:
        return {}
    details: dict[str, Any] = {"scheduled_start": iso(request.scheduled_start)}
    if request.starts_at and request.expires_at:
        details |= {"starts_at": iso(request.starts_at), "expires_at": iso(request.expires_at)}
    return details


def started_text(request: AccessRequest) -> str:
    """What approvers are told when a scheduled grant starts."""
    assert request.expires_at
    return (
        f":large_green_circle: Scheduled request `{request.id}` from <@{request.requester_id}> "
        f"is active now in {request.account_name}, until {schedule.shown(request.expires_at)}."
    )


def scheduled_text(request: AccessRequest) -> str:
    """What the approver and requester are told when a scheduled request is approved."""
    assert request.starts_at and request.expires_at
    return (
        f":alarm_clock: Request `{request.id}` is approved and scheduled: access to "
        f"{request.account_name} starts {schedule.shown(request.starts_at)} and ends "
        f"{schedule.shown(request.expires_at)}. Nothing is granted before then; it can be "
        "cancelled until it starts."
    )


def already_decided(request: AccessRequest) -> str:
    """What a clicker who lost a race is told."""
    who = f" by <@{request.decided_by}>" if request.decided_by not in (None, SYSTEM_ACTOR) else ""
    when = f" at {iso(request.decided_at)}" if request.decided_at else ""
    return f"Request {request.id} was already {request.status.value.lower()}{who}{when}."
