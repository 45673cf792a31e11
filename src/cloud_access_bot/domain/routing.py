"""Routing by what is asked: the limits one request gets from the rules matching its content.

A rule of ``rules:`` whose ``match`` names ``access_levels``, ``services``, ``actions`` or
``permission_sets`` is a *route*: its account clauses (OU, tags, name) are resolved when the
configuration loads (``AccountRules.routes``), its request clauses here, for each request.

Matching (every clause given must hold):

- the action clauses hold together for **one** action of the request: an access level it may
  have (a wildcard may have every level up to its most privileged one; an action of unknown
  level may have any), a service it belongs to, an action pattern it may overlap. So a rule
  ``{access_levels: [Write], services: [s3]}`` matches a request with an S3 Write action, not
  one with an S3 Read and an EC2 Write;
- ``permission_sets`` holds when the permission set or group asked for matches one pattern.

What the matching routes change — the strictest wins, whatever their order:

- ``approvals_required``: the highest of the account's and the routes' counts;
- ``max_duration_minutes``: the lowest of the account's and the routes' maxima;
- ``approval_groups``: once a route names groups, the account's groups no longer approve;
  an approver must be a member of one group of *every* route naming groups (adding an action
  to a request never lets someone outside a group a route demands approve it). The account's
  approvers stay a set too while an action is not sanctioned by a route naming groups
  (``_sanctions``: described by it, at no level above the highest it lists), so padding a
  Write with a Read never hands the Write to a Read rule's group;
- ``auto_approve``: only when every matching route auto-approves, every action is covered by
  one of them alone (all its possible levels listed, its service listed, a listed pattern
  covering it) and the usual guardrails hold (``guardrails.auto_approvable``: no wildcard
  resource, no privilege escalation, ``discovered_only``), never in a production account.
  A matching route that does not auto-approve also stops the global ``auto_approve:`` list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from cloud_access_bot.domain import approvers
from cloud_access_bot.domain.approvers import ApproverSpec
from cloud_access_bot.domain.catalog import PRIVILEGE_ORDER
from cloud_access_bot.domain.guardrails import auto_approvable, pattern_covers, patterns_overlap
from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.rules import AccountRules, AutoApproveRule, Limits, Route

LevelOf = Callable[[str], str | None]

#: The line the card shows when a request's rules name groups but the account's approvers
#: still decide on part of it (an action none of those rules sanctions).
ACCOUNT_APPROVERS_TOO = "the account's approvers ({}) approve too, for what no rule above covers"


@dataclass(frozen=True)
class Routing:
    """One request's limits under its account's routes, and which routes made them."""

    limits: Limits
    #: An approver must be named by each set: one set per route naming groups (one of its
    #: groups), else the account's approvers (``Limits.approvers``) as the only set.
    approver_sets: tuple[tuple[ApproverSpec, ...], ...]
    #: The matching routes, each as "<label>: <what it requires>", for the card and the audit.
    applied: tuple[str, ...]
    #: Why the request is auto-approved by its routes, before the guardrails on its resources
    #: (``auto_approved``); None: it is not.
    auto_reason: str | None
    #: A matching route does not auto-approve: a person decides (nor does the global
    #: ``auto_approve:`` list apply).
    needs_person: bool
    #: Auto-approval only when every resource was picked from discovery.
    discovered_only: bool
    #: The label of the route whose maximum duration is below the account's (None: none is).
    capped_by: str | None = None

    def duration_problem(self, minutes: int) -> str | None:
        """Why ``minutes`` is too long for this request under its routes (None: it is not)."""
        cap = self.limits.max_duration_minutes
        if self.capped_by is None or minutes <= cap:
            return None
        return f"{minutes} minutes is longer than the {cap}-minute maximum of rule {self.capped_by}"


def levels_of(action: str, level_of: LevelOf) -> frozenset[str]:
    """The access levels ``action`` may have: its own; for a wildcard, every level up to the
    most privileged one it covers; every level when unknown."""
    level = level_of(action)
    if level not in PRIVILEGE_ORDER:
        return frozenset(PRIVILEGE_ORDER)
    if "*" in action or "?" in action:
        return frozenset(PRIVILEGE_ORDER[: PRIVILEGE_ORDER.index(level) + 1])
    return frozenset({level})


def _service(action: str) -> str:
    return action.partition(":")[0].lower()


def _asks_actions(route: Route) -> bool:
    return bool(route.access_levels or route.services or route.actions)


def _describes(route: Route, action: str, levels: frozenset[str], *, surely: bool) -> bool:
    """Whether the action (which may have ``levels``) may be (``surely``: surely is) one the
    route's action clauses describe: one of its levels listed (``surely``: all of them), its
    service listed, a listed pattern overlapping it (``surely``: covering it)."""
    if route.access_levels:
        wanted = set(route.access_levels)
        if not (levels <= wanted if surely else levels & wanted):
            return False
    if route.services and not any(fnmatchcase(_service(action), s) for s in route.services):
        return False
    fits = pattern_covers if surely else patterns_overlap
    return not route.actions or any(fits(p, action) for p in route.actions)


def _sanctions(route: Route, action: str, levels: frozenset[str]) -> bool:
    """Whether the route's groups may decide on ``action`` in place of the account's
    approvers: the route describes it for sure, its access levels at most the highest one the
    route lists (a rule for Write speaks for a Read beside it, never a rule for Read for a
    Write). An action no group-naming route sanctions keeps the account's approvers too, so
    padding a request with a low action never hands its high one to a low rule's group."""
    if not _asks_actions(route):
        return True
    if route.access_levels:
        highest = max(PRIVILEGE_ORDER.index(level) for level in route.access_levels)
        if any(PRIVILEGE_ORDER.index(level) > highest for level in levels):
            return False
        route = replace(route, access_levels=())
    return _describes(route, action, levels, surely=True)


def _matches(route: Route, levels: Mapping[str, frozenset[str]], target: str | None) -> bool:
    """Whether the route applies to a request asking for the actions of ``levels`` (each with
    the levels it may have) or for ``target``."""
    if route.permission_sets and not (
        target is not None and any(fnmatchcase(target, p) for p in route.permission_sets)
    ):
        return False
    if not _asks_actions(route):
        return True
    return any(_describes(route, a, may, surely=False) for a, may in levels.items())


def requirement(route: Route) -> str:
    """What the route requires, in words: ``needs 2 approvals from @sre``."""
    parts = []
    if route.auto_approve:
        parts.append("auto-approves")
    count = route.approvals_required
    if count:
        parts.append(f"needs {count} approval{'' if count == 1 else 's'}")
    if route.approval_groups:
        groups = ", ".join(f"@{g}" for g in route.approval_groups)
        parts.append(f"{'from' if count else 'approved by'} {groups}")
    text = " ".join(parts)
    if route.max_duration_minutes:
        limit = f"at most {route.max_duration_minutes} minutes"
        text = f"{text}, {limit}" if text else limit
    return text or "applies"


def route(
    account: AccountRules,
    actions: Sequence[str],
    target: str | None,
    level_of: LevelOf,
) -> Routing:
    """The limits of a request for ``actions`` (or ``target``) in ``account``."""
    base = account.limits_for(target)
    levels = {action: levels_of(action, level_of) for action in actions}
    matched = [r for r in account.routes if _matches(r, levels, target)]
    required = max([base.approvals_required, *(r.approvals_required or 1 for r in matched)])
    cap = min(
        [
            base.max_duration_minutes,
            *(r.max_duration_minutes or base.max_duration_minutes for r in matched),
        ]
    )
    deciding = [r for r in matched if r.approval_groups]
    routed_groups = [r.approval_groups or () for r in deciding]
    own = base.approvers or approvers.groups(base.approval_groups)
    unsanctioned = any(
        not any(_sanctions(r, a, may) for r in deciding) for a, may in levels.items()
    )
    sets = tuple(approvers.groups(g) for g in routed_groups)
    if not sets or unsanctioned:
        sets = (*sets, own)
    limits = replace(
        base,
        approval_groups=tuple(
            dict.fromkeys(
                [
                    *(g for s in routed_groups for g in s),
                    *(base.approval_groups if own in sets else ()),
                ]
            )
        ),
        approvers=approvers.merged(*sets),
        approvals_required=required,
        max_duration_minutes=cap,
        durations=tuple(m for m in base.durations if m <= cap),
    )
    needs_person = any(not r.auto_approve for r in matched)
    covered = all(
        any(_describes(r, a, may, surely=True) for r in matched) for a, may in levels.items()
    )
    auto = None
    if matched and not needs_person and not account.production and actions and covered:
        auto = "Auto-approved by rule " + ", ".join(r.label for r in matched) + "."
    capping = [r.label for r in matched if r.max_duration_minutes == cap]
    applied = [f"{r.label}: {requirement(r)}" for r in matched]
    if deciding and unsanctioned:
        applied.append(ACCOUNT_APPROVERS_TOO.format(approvers.describe(own)))
    return Routing(
        limits=limits,
        approver_sets=sets,
        applied=tuple(applied),
        auto_reason=auto,
        needs_person=needs_person,
        discovered_only=any(r.discovered_only for r in matched),
        capped_by=capping[0] if cap < base.max_duration_minutes else None,
    )


def auto_approved(
    routing: Routing, services: Sequence[ServiceAccess], discovered: Collection[str]
) -> str | None:
    """Why the request is auto-approved by its routes, once the auto-approval guardrails hold
    for its resources and actions (None: a person decides)."""
    if routing.auto_reason is None:
        return None
    guard = AutoApproveRule(
        accounts=(),
        access_levels=(),
        max_duration_minutes=routing.limits.max_duration_minutes,
        discovered_only=routing.discovered_only,
    )
    return routing.auto_reason if auto_approvable(services, guard, discovered) else None


def members_of_all(member_sets: Iterable[Sequence[str]]) -> list[str]:
    """The people in every set (in the first set's order): the approvers of a request whose
    routes each demand their own groups."""
    sets = list(member_sets)
    if not sets:
        return []
    others = [set(s) for s in sets[1:]]
    return [m for m in dict.fromkeys(sets[0]) if all(m in s for s in others)]
