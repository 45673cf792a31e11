"""Who may decide what about a request: pure functions returning an outcome and a reason.

The reason is shown to the person who clicked and written to the audit trail, so it says what
happened in words a user understands. These functions only judge; the service applies the
decision with a conditional write, which settles races between concurrent clicks.

Group membership is looked up by the caller (it needs Slack) and passed in as
``clicker_is_approver``: whether the clicker is *now* in one of the account's approval groups,
and ``members``: everyone who is now, so an approval recorded earlier by someone who has since
left the groups no longer counts. ``clicker_is_requester`` says whether the clicker is the
requester under any of their Slack accounts (same Slack id, or the same normalised email:
:func:`same_person`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cloud_access_bot.domain import approvers
from cloud_access_bot.domain.guardrails import auto_approvable
from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.domain.rules import AutoApproveRule, Rules, SelfApproval
from cloud_access_bot.domain.schedule import awaiting_start, is_scheduled, shown

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
SLACK_GROUP_ID = re.compile(r"^S[A-Z0-9]+$")


class Outcome(StrEnum):
    APPROVE = "approve"
    """The action may go ahead (for an approval: the request is now fully approved)."""
    RECORD = "record"
    """An approval to record; more approvals are still needed."""
    REFUSE = "refuse"
    """Nothing changes; the reason says why."""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    break_glass: bool = False


def normalise_email(email: str, alias_domains: Mapping[str, str] | None = None) -> str:
    """One person's address in one spelling: lower case, no ``+tag``, and the domain replaced
    by its canonical one when it is a configured alias (``email_alias_domains``)."""
    local, _, domain = email.strip().lower().rpartition("@")
    if not local:
        return email.strip().lower()
    local = local.split("+", 1)[0]
    domain = (alias_domains or {}).get(domain, domain)
    return f"{local}@{domain}"


def same_person(
    email: str | None, other: str | None, alias_domains: Mapping[str, str] | None = None
) -> bool:
    """Whether two Slack accounts' emails are one person's (never for a missing email)."""
    if not email or not other:
        return False
    return normalise_email(email, alias_domains) == normalise_email(other, alias_domains)


def people(emails: Sequence[str | None], alias_domains: Mapping[str, str] | None = None) -> int:
    """How many people the Slack accounts with these ``emails`` are: accounts whose emails
    are one person's (``same_person``) count once; an account without an email counts on its
    own (nothing shows it is someone else's)."""
    known = {normalise_email(e, alias_domains) for e in emails if e}
    return len(known) + sum(1 for e in emails if not e)


def _refuse(reason: str) -> Decision:
    return Decision(Outcome.REFUSE, reason)


def _user(user_id: str) -> str:
    """A Slack mention for user ids, the text as is for other actors (``auto-approve``)."""
    return f"<@{user_id}>" if SLACK_USER_ID.match(user_id) else user_id


def _group(group: str) -> str:
    return f"<!subteam^{group}>" if SLACK_GROUP_ID.match(group) else f"@{group}"


def _when(moment: datetime | None, word: str = "at") -> str:
    return f" {word} {moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def _by(user_id: str | None) -> str:
    return f" by {_user(user_id)}" if user_id else ""


def describe_status(request: AccessRequest) -> str:
    """What has happened to the request, as a sentence (for refusing a late click)."""
    by, at = _by(request.decided_by), _when(request.decided_at)
    match request.status:
        case Status.PENDING:
            return "This request is waiting for approval."
        case Status.APPROVED if is_scheduled(request) and request.starts_at:
            return (
                f"This request was already approved{by}{at}; access is scheduled to start "
                f"{shown(request.starts_at)}."
            )
        case Status.APPROVED:
            return f"This request was already approved{by}{at}; access is being granted."
        case Status.ACTIVE:
            until = _when(request.expires_at, "until")
            return f"This request was already approved{by}{at}; access is active{until}."
        case Status.EXPIRED:
            return f"This request was approved{by}{at} and its access has expired."
        case Status.REVOKED:
            return f"This request's access was revoked{by}{at}."
        case Status.DENIED:
            because = f" ({request.decision_reason})" if request.decision_reason else ""
            return f"This request was already denied{by}{at}{because}."
        case Status.CANCELLED:
            return f"This request was cancelled by the requester{at}."
        case Status.TIMED_OUT:
            return f"This request timed out{at} without a decision."
        case Status.FAILED:
            why = f": {request.failure_reason}" if request.failure_reason else ""
            return f"This request was approved but granting access failed{why}."


def _not_approver(
    request: AccessRequest,
    rules: Rules,
    verb: str,
    was_asked: bool = True,
    groups_now: Sequence[str] | None = None,
) -> Decision:
    """``groups_now``: the request's approval groups under the rules on what is asked
    (``domain.routing``), when they are not the account's."""
    if not was_asked:
        return _refuse(
            f"You may not {verb} this request: its approvers were fixed when it was made, and "
            "you were not one of them."
        )
    limits = rules.accounts[request.account_name].limits_for(request.target)
    entries = (
        approvers.groups(groups_now)
        if groups_now
        else limits.approvers or approvers.groups(limits.approval_groups)
    )
    if all(entry.kind is approvers.Kind.GROUP for entry in entries):
        groups = ", ".join(_group(g.value) for g in entries)
        return _refuse(
            f"Only members of the approval groups for {request.account_name} ({groups}) "
            f"can {verb} this request."
        )
    return _refuse(
        f"You may not {verb} this request: only its approvers for {request.account_name} "
        f"({approvers.describe(entries)}) can, and you are not (or no longer) one of them."
    )


def _unknown_account(request: AccessRequest, rules: Rules) -> Decision | None:
    if rules.account(request.account_name) is None:
        return _refuse(
            f"Account {request.account_name} is no longer in the configuration; "
            "this request cannot be decided."
        )
    return None


def approvals_required(request: AccessRequest, rules: Rules) -> int:
    """Distinct approvers needed: the stricter of the count recorded at submission and the
    current configuration, so a configuration change never weakens a pending request."""
    return max(
        request.approvals_required, rules.accounts[request.account_name].limits.approvals_required
    )


def decide_approval(
    request: AccessRequest,
    clicker: str,
    *,
    clicker_is_approver: bool,
    rules: Rules,
    members: Collection[str] | None = None,
    clicker_is_requester: bool | None = None,
    break_glass_reason: str | None = None,
    clicker_was_asked: bool = True,
    approval_groups: Sequence[str] | None = None,
) -> Decision:
    """Judge a click on Approve: approve, record one more approval, or refuse.

    ``members`` (the approval groups' members now; None: not re-checked) decides which of the
    approvals recorded earlier still count. ``clicker_was_asked``: whether the clicker is one
    of the approvers recorded at submission (a click counts only from one of them).
    """
    if request.status is not Status.PENDING:
        return _refuse(describe_status(request))
    if unknown := _unknown_account(request, rules):
        return unknown
    if not (clicker_is_approver and clicker_was_asked):
        asked = clicker_was_asked or not clicker_is_approver
        return _not_approver(request, rules, "approve", asked, approval_groups)
    if clicker_is_requester is None:
        clicker_is_requester = clicker == request.requester_id
    if clicker_is_requester:
        if rules.self_approval is not SelfApproval.BREAK_GLASS:
            return _refuse("You cannot approve your own request; another approver must.")
        if not (break_glass_reason and break_glass_reason.strip()):
            return _refuse(
                "Approving your own request is break-glass access: give a reason, "
                "which is recorded in the audit trail."
            )
        return Decision(
            Outcome.APPROVE,
            f"Break-glass self-approval by {_user(clicker)}: {break_glass_reason.strip()}",
            break_glass=True,
        )
    return _count_approval(
        request.approvals,
        clicker,
        requester=request.requester_id,
        required=approvals_required(request, rules),
        members=members,
        what="this request",
        label="Approval",
        verb="Approved",
    )


def _count_approval(
    recorded: Collection[str],
    clicker: str,
    *,
    requester: str,
    required: int,
    members: Collection[str] | None,
    what: str,
    label: str,
    verb: str,
) -> Decision:
    """N-of-M: the clicker's approval plus the recorded ones of people still approvers."""
    earlier = [a for a in dict.fromkeys(recorded) if a != requester]
    if clicker in earlier:
        counted = [a for a in earlier if members is None or a in members]
        return _refuse(
            f"You already approved {what}; waiting for "
            f"{max(required - len(counted), 0)} more approval(s)."
        )
    counted = [a for a in earlier if members is None or a in members]
    left = [a for a in earlier if a not in counted]
    gone = (
        f" The approval of {', '.join(_user(a) for a in left)} no longer counts: no longer in "
        "the approval groups."
        if left
        else ""
    )
    count = len(counted) + 1
    if count >= required:
        return Decision(
            Outcome.APPROVE,
            f"{verb} by {_user(clicker)}"
            + (f" ({count} of {required} approvals)." if required > 1 else "."),
        )
    return Decision(
        Outcome.RECORD,
        f"{label} by {_user(clicker)} recorded: {count} of {required} approvals; "
        f"waiting for {required - count} more.{gone}",
    )


def decide_denial(
    request: AccessRequest,
    clicker: str,
    *,
    clicker_is_approver: bool,
    rules: Rules,
    clicker_was_asked: bool = True,
    approval_groups: Sequence[str] | None = None,
) -> Decision:
    """Judge a click on Deny: one approver's denial ends the request."""
    if request.status is not Status.PENDING:
        return _refuse(describe_status(request))
    if clicker == request.requester_id:
        return _refuse("To withdraw your own request, cancel it instead of denying it.")
    if unknown := _unknown_account(request, rules):
        return unknown
    if not (clicker_is_approver and clicker_was_asked):
        asked = clicker_was_asked or not clicker_is_approver
        return _not_approver(request, rules, "deny", asked, approval_groups)
    return Decision(Outcome.APPROVE, f"Denied by {_user(clicker)}.")


def decide_cancel(request: AccessRequest, clicker: str, *, now: datetime | None = None) -> Decision:
    """Judge a cancellation: only the requester, only while it is pending or scheduled and not
    started at ``now`` (nothing is granted yet either way)."""
    if clicker != request.requester_id:
        return _refuse("Only the requester can cancel this request.")
    scheduled = now is not None and awaiting_start(request, now)
    if request.status is not Status.PENDING and not scheduled:
        return _refuse(describe_status(request))
    return Decision(Outcome.APPROVE, f"Cancelled by the requester {_user(clicker)}.")


def decide_revoke(
    request: AccessRequest,
    clicker: str,
    *,
    clicker_is_approver: bool,
    clicker_is_admin: bool = False,
    now: datetime | None = None,
) -> Decision:
    """Judge an early revocation: the requester, an approver for the account or a member of
    ``admin_groups`` (who may revoke any grant), only while access is active or scheduled and
    not started at ``now``."""
    if clicker != request.requester_id and not (clicker_is_approver or clicker_is_admin):
        return _refuse(
            "Only the requester, an approver for this account or an admin can revoke access."
        )
    if now is not None and awaiting_start(request, now):
        return Decision(Outcome.APPROVE, f"Scheduled access revoked by {_user(clicker)}.")
    if request.status is Status.APPROVED:
        return _refuse("Access is still being granted; try again in a moment.")
    if request.status is not Status.ACTIVE:
        return _refuse(describe_status(request))
    return Decision(Outcome.APPROVE, f"Access revoked early by {_user(clicker)}.")


def decide_extension(
    request: AccessRequest, clicker: str, *, extra_minutes: int, rules: Rules
) -> Decision:
    """Judge asking to extend active access by ``extra_minutes``.

    ``request.duration_minutes`` is the total granted so far (the service adds each extension
    to it), and the new total must stay within the account's maximum duration.
    """
    if clicker != request.requester_id:
        return _refuse("Only the requester can ask to extend this access.")
    if request.status is not Status.ACTIVE:
        return _refuse(describe_status(request))
    if unknown := _unknown_account(request, rules):
        return unknown
    if extra_minutes < 1:
        return _refuse("An extension must add at least one minute.")
    if request.pending_extension:
        return _refuse("An extension is already waiting for approval.")
    total = request.duration_minutes + extra_minutes
    cap = rules.accounts[request.account_name].limits_for(request.target).max_duration_minutes
    if total > cap:
        return _refuse(
            f"Extending by {extra_minutes} minutes would make {total} minutes in all, over the "
            f"{cap}-minute maximum for {request.account_name}; at most "
            f"{max(cap - request.duration_minutes, 0)} more minutes can be asked for."
        )
    return Decision(
        Outcome.APPROVE,
        f"Extension by {extra_minutes} minutes asked by {_user(clicker)} "
        f"({total} of at most {cap} minutes).",
    )


def decide_extension_approval(
    request: AccessRequest,
    clicker: str,
    *,
    clicker_is_approver: bool,
    clicker_is_requester: bool,
    members: Collection[str] | None,
    rules: Rules,
    approve: bool = True,
    clicker_was_asked: bool = True,
) -> Decision:
    """Judge a click on "Approve extension" (or "Refuse" with ``approve`` False): the same
    rules as deciding on the request (current approvers only, never the requester under any
    of their accounts, N of M to approve, one refusal ends it)."""
    minutes = request.pending_extension
    if request.status is not Status.ACTIVE or not minutes:
        return _refuse(f"No extension of request {request.id} is waiting.")
    if unknown := _unknown_account(request, rules):
        return unknown
    if clicker_is_requester or clicker == request.requester_id:
        return _refuse("You cannot decide on your own extension; another approver must.")
    if not (clicker_is_approver and clicker_was_asked):
        asked = clicker_was_asked or not clicker_is_approver
        return _not_approver(request, rules, "extend", asked)
    if not approve:
        return Decision(Outcome.APPROVE, f"Extension refused by {_user(clicker)}.")
    return _count_approval(
        request.extension_approvals,
        clicker,
        requester=request.requester_id,
        required=approvals_required(request, rules),
        members=members,
        what=f"the extension by {minutes} minutes",
        label=f"Approval of the extension by {minutes} minutes",
        verb=f"Extension by {minutes} minutes approved",
    )


def _rule_matches(
    rule: AutoApproveRule,
    request: AccessRequest,
    rules: Rules,
    access_level: Callable[[str], str | None],
    discovered: Collection[str],
) -> bool:
    if not auto_approvable(request.services, rule, discovered):
        return False
    account = rules.accounts[request.account_name]
    if rule.accounts:
        if request.account_name not in rule.accounts:
            return False
    elif account.production:
        return False
    if request.duration_minutes > rule.max_duration_minutes:
        return False
    levels = [access_level(action) for action in request.actions]
    return bool(levels) and all(level in rule.access_levels for level in levels)


def auto_approval(
    request: AccessRequest,
    rules: Rules,
    access_level: Callable[[str], str | None],
    discovered: Collection[str] = (),
) -> Decision | None:
    """An APPROVE decision naming the first auto-approve rule the request fits, else None.

    A rule fits when it covers the account (listed, or no list and the account is not
    production), the duration is within its maximum and every action's access level (None when
    unknown, which never fits) is one it allows. A request with no actions never fits, nor
    one with a wildcard resource or an escalation action (``guardrails.auto_approvable``);
    ``discovered`` are the resources picked from discovery, for ``discovered_only`` rules.
    """
    if request.status is not Status.PENDING or rules.account(request.account_name) is None:
        return None
    for index, rule in enumerate(rules.auto_approve):
        if _rule_matches(rule, request, rules, access_level, discovered):
            accounts = ", ".join(rule.accounts) or "every non-production account"
            return Decision(
                Outcome.APPROVE,
                f"Auto-approved by rule auto_approve.{index} (accounts: {accounts}; access "
                f"levels: {', '.join(rule.access_levels)}; up to "
                f"{rule.max_duration_minutes} minutes).",
            )
    return None
