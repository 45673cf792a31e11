"""What may be requested at all, whoever approves it — checked at submission and, by
``recheck``, again when approving and when writing the grant.

IAM action patterns use ``*`` (any run of characters) and ``?`` (one character) and compare
case-insensitively. A request may itself hold a pattern (``iam:Get*``, from a preset or typed
by hand), so refusing needs two pattern-vs-pattern questions besides plain matching:

- *overlap*: could one action match both patterns? ``iam:Get*`` overlaps the forbidden
  ``iam:*``, so it is refused even though neither string matches the other literally;
- *coverage*: does an allowed exception match every action the requested pattern could? Only
  then does the exception lift the refusal (``iam:*`` allowed covers ``iam:Get*``; ``iam:GetRole``
  allowed does not cover ``iam:Get*``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from cloud_access_bot.domain.arns import is_pattern, partition_of, resource_problems
from cloud_access_bot.domain.catalog import Catalog, escalation_actions
from cloud_access_bot.domain.identity_center import makes_own_role, offered_targets
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess
from cloud_access_bot.domain.rules import AutoApproveRule, Rules

PERMISSIONS_MANAGEMENT = "Permissions management"


@dataclass(frozen=True)
class Refusal:
    """A requested action that may not be granted, with the reason shown to the requester."""

    action: str
    reason: str


def patterns_overlap(first: str, second: str) -> bool:
    """Whether some action name matches both patterns (a plain name is a pattern too)."""
    a, b = first.lower(), second.lower()

    @cache
    def overlap(i: int, j: int) -> bool:
        if i < len(a) and a[i] == "*":
            return overlap(i + 1, j) or (j < len(b) and overlap(i, j + 1))
        if j < len(b) and b[j] == "*":
            return overlap(i, j + 1) or (i < len(a) and overlap(i + 1, j))
        if i == len(a) or j == len(b):
            return i == len(a) and j == len(b)
        return (a[i] == b[j] or "?" in (a[i], b[j])) and overlap(i + 1, j + 1)

    return overlap(0, 0)


def pattern_covers(allowed: str, requested: str) -> bool:
    """Whether every action matched by ``requested`` is matched by ``allowed``.

    Exact for plain action names. For requested wildcards it is conservative: the requested
    pattern is read as text in which its ``*`` can only sit inside an allowed ``*`` and its ``?``
    only under an allowed ``?`` or ``*`` — when in doubt the answer is "not covered".
    """
    a, r = allowed.lower(), requested.lower()

    @cache
    def covers(i: int, j: int) -> bool:
        if i < len(a) and a[i] == "*":
            return covers(i + 1, j) or (j < len(r) and covers(i, j + 1))
        if i == len(a) or j == len(r):
            return i == len(a) and j == len(r)
        if r[j] == "*":
            return False
        return (a[i] == r[j] or a[i] == "?") and covers(i + 1, j + 1)

    return covers(0, 0)


def refused_actions(
    actions: Iterable[str],
    *,
    rules: Rules,
    account_name: str,
    access_level: Callable[[str], str | None],
) -> list[Refusal]:
    """The requested actions that may not be granted in the account, each with its reason.

    Refused: anything overlapping ``never_grantable_actions``; when
    ``deny_permissions_management`` is on, anything whose access level is Permissions
    management; privilege escalation (``is_escalation``) unless the account has
    ``allow_escalation`` — each unless the account's ``allowed_dangerous_actions`` covers it.
    ``access_level`` gets each action as requested; for a wildcard it should answer the most
    powerful level among the actions the wildcard matches (or None when unknown).
    """
    account = rules.account(account_name)
    allowed = account.allowed_dangerous_actions if account else []
    escalation_allowed = bool(account and account.allow_escalation)
    refusals = []
    for action in actions:
        if any(pattern_covers(pattern, action) for pattern in allowed):
            continue
        forbidden = [p for p in rules.never_grantable_actions if patterns_overlap(p, action)]
        if forbidden:
            is_plain = "*" not in action and "?" not in action
            what = "is never grantable" if is_plain else "includes actions that are never grantable"
            refusals.append(
                Refusal(
                    action,
                    f"{action} {what} (never_grantable_actions: {', '.join(forbidden)}); "
                    f"ask an admin to allow it for {account_name} (allowed_dangerous_actions)",
                )
            )
        elif rules.deny_permissions_management and access_level(action) == PERMISSIONS_MANAGEMENT:
            refusals.append(
                Refusal(
                    action,
                    f"{action} is Permissions management access, which this bot does not grant "
                    f"(deny_permissions_management); ask an admin to allow it for "
                    f"{account_name} (allowed_dangerous_actions)",
                )
            )
        elif not escalation_allowed and is_escalation(action):
            refusals.append(
                Refusal(
                    action,
                    f"{action} can be used to escalate privileges (run code or take a role "
                    f"beyond what is granted), which {account_name} does not allow; ask an "
                    f"admin to set allow_escalation for {account_name}",
                )
            )
    return refusals


def is_escalation(action: str) -> bool:
    """Whether the action (or an action the pattern matches) is on the escalation list
    (``catalog.escalation_actions``)."""
    lowered = action.lower()
    if "*" not in lowered and "?" not in lowered:
        return lowered in escalation_actions()
    return any(patterns_overlap(action, known) for known in escalation_actions())


def approvals_required(
    rules: Rules, account_name: str, actions: Iterable[str], target: str | None = None
) -> int:
    """Distinct approvals a request needs: the account's count (or its permission set's or
    group's, ``target``), and for privilege escalation at least what a production account
    needs (the highest count of the production accounts, or 2 when none is marked production)."""
    base = rules.accounts[account_name].limits_for(target).approvals_required
    if not any(is_escalation(action) for action in actions):
        return base
    production = [a.limits.approvals_required for a in rules.accounts.values() if a.production]
    return max(base, *production) if production else max(base, 2)


def check_duration(minutes: int, *, rules: Rules, account_name: str) -> str | None:
    """None when the duration may be requested in the account, else why it may not."""
    account = rules.account(account_name)
    if account is None:
        return f"{account_name} is not a configured account"
    cap = account.limits.max_duration_minutes
    if minutes > cap:
        return f"{minutes} minutes is longer than the {cap}-minute maximum for {account_name}"
    offered = account.limits.durations
    if minutes not in offered:
        listed = ", ".join(str(m) for m in offered)
        return f"{minutes} minutes is not an offered duration for {account_name} ({listed} minutes)"
    return None


def auto_approvable(
    services: Sequence[ServiceAccess], rule: AutoApproveRule, discovered: Collection[str]
) -> bool:
    """Whether an auto-approve rule may match at all, whatever its access levels say.

    Never for a wildcard resource (``*`` or a pattern: a person must see it) nor for a
    privilege-escalation action; with ``discovered_only``, only when every resource was
    picked from what discovery listed (nothing typed).
    """
    resources = [r for s in services for r in s.resources]
    if any(map(is_pattern, resources)):
        return False
    if any(is_escalation(a) for s in services for a in s.actions):
        return False
    return not rule.discovered_only or all(r in discovered for r in resources)


# --- the rules again when approving and when writing the grant -------------------------------
#
# The rules in force when a request is approved and when its grant is written.
#
# Configuration may change between a submission and its approval (S3 config reloads while the bot
# runs), and a grant may be written long after its approval (the sweeper finishes interrupted
# grants). A grant never exceeds what current rules allow: before approving and again before
# writing, the request is judged as if it were submitted now — account and login role still
# configured and unchanged, guardrails, every resource, the maximum duration — and, when
# approving, the pending timeout even if the sweeper has not timed the request out yet.


@dataclass(frozen=True)
class Recheck:
    """The verdict: a refusal, or a go-ahead, possibly for a shorter duration."""

    refusal: str | None = None
    #: The account's maximum when it is now below what was asked: grant this long instead.
    capped_minutes: int | None = None

    def cap_note(self, asked: int, account_name: str) -> str:
        """What the approver and the requester are told about a capped duration."""
        cap = f"{self.capped_minutes} minute{'' if self.capped_minutes == 1 else 's'}"
        return (
            f"The maximum duration for {account_name} is now {cap}, so this grant lasts "
            f"{cap} instead of the {asked} minutes asked for."
        )


def scope_problems(
    services: Sequence[ServiceAccess],
    rules: Rules,
    account_name: str,
    catalog: Catalog | None = None,
) -> list[tuple[str, str]]:
    """``(resource, why)`` for the resources of ``services`` the account's current rules
    refuse."""
    account = rules.accounts[account_name]
    return resource_problems(
        services,
        account_id=account.account_number,
        partition=partition_of(account.iam_role),
        regions=account.regions,
        allow_wildcards=rules.allow_wildcard_resources,
        catalog=catalog,
    )


def recorded_account_name(request: AccessRequest, rules: Rules) -> str | None:
    """The name under which the request's recorded AWS account is configured now — its own
    name while that still means the same account, else the account's new name — or None once
    no configured account has that number. Rules are those of the account the request was
    made in: a name given to another account never lends that account's rules."""
    same = [n for n, a in rules.accounts.items() if a.account_number == request.account_id]
    if request.account_name in same:
        return request.account_name
    return same[0] if same else None


def account_gone(request: AccessRequest) -> str:
    """Why a request whose AWS account is no longer configured cannot go ahead."""
    return (
        f"AWS account {request.account_id} ({request.account_name}) is no longer configured; "
        "nothing was granted."
    )


def recheck(
    request: AccessRequest,
    rules: Rules,
    *,
    now: datetime,
    access_level: Callable[[str], str | None],
    approving: bool,
    catalog: Catalog | None = None,
    max_minutes: int | None = None,
) -> Recheck:
    """Whether ``request`` may be approved (``approving``) or its grant written, now.

    ``duration_minutes`` is compared with the account's current maximum: over it, the
    verdict caps the grant at the maximum (the approver already agreed to longer access,
    so shorter access is within what they approved; refusing would only make everyone ask
    again). ``max_minutes``: the request's own maximum under the rules on what is asked
    (``domain.routing``), which caps it too.
    """
    name = recorded_account_name(request, rules)
    account = None if name is None else rules.account(name)
    if name is None or account is None:
        return Recheck(account_gone(request))
    if request.target is not None:
        if request.target not in offered_targets(rules, name):
            return Recheck(f"{request.target} is no longer offered in {name}; nothing was granted.")
    elif not makes_own_role(rules, name) and request.login_role not in account.login_roles:
        return Recheck(
            f"Login role {request.login_role} is no longer configured for {name}; nothing "
            "was granted."
        )
    if approving and request.timeout_at is not None and now >= request.timeout_at:
        return Recheck(
            f"This request timed out at {request.timeout_at:%Y-%m-%d %H:%M} UTC without a "
            "decision; it can no longer be approved. Ask again."
        )
    refusals = refused_actions(
        request.actions, rules=rules, account_name=name, access_level=access_level
    )
    scope = scope_problems(request.services, rules, name, catalog)
    problems = [r.reason for r in refusals] + [why for _, why in scope]
    if problems:
        return Recheck("Under the current rules this cannot be granted: " + " ".join(problems))
    cap = account.limits_for(request.target).max_duration_minutes
    cap = cap if max_minutes is None else min(cap, max_minutes)
    if request.duration_minutes > cap:
        return Recheck(capped_minutes=cap)
    return Recheck()
