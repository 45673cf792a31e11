"""Pure rules of "who had access": grant windows, and IAM wildcard matching of actions and ARNs.

Both sides of a match may be patterns: a policy grants ``s3:Get*`` and an auditor asks about
``s3:GetObject``, or asks about ``s3:Put*`` and the policy grants ``s3:PutObject``. A grant
matches a question when some concrete action (or ARN) is matched by both patterns.

- Actions compare case-insensitively (IAM does), via domain.guardrails ``patterns_overlap``.
- ARNs compare case-sensitively with ``*`` (any run, across ``:`` and ``/``) and ``?`` (one
  character), as IAM's Resource element does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud_access_bot.domain.arns import applies_to
from cloud_access_bot.domain.guardrails import patterns_overlap
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, EventType

#: Events that end a grant before its planned expiry (the policy was removed then).
ENDING_EVENTS = frozenset({EventType.REVOKED, EventType.EXPIRED})


@dataclass(frozen=True)
class Statement:
    """The actions and resources of one Allow statement of a grant policy."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class GrantWindow:
    """When a grant was in force: ``start`` inclusive, ``end`` exclusive.

    ``ended_by`` is the event that ended it early (``REVOKED``/``EXPIRED``), or ``None`` when it
    ends at its planned expiry.
    """

    start: datetime
    end: datetime
    ended_by: EventType | None = None

    def overlaps(self, since: datetime, until: datetime) -> bool:
        """Whether the window shares a moment with [since, until] (``since == until``: a point)."""
        return self.start <= until and since < self.end


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def policy_statements(document: str | Mapping[str, Any] | None) -> list[Statement]:
    """The effective Allow statements of a policy document (JSON text or parsed).

    A statement is split per action into the resources that action can really use
    (:func:`~cloud_access_bot.domain.arns.applies_to`), so a merged statement listing a bucket
    next to ``s3:GetObject`` does not report access to the bucket ARN. [] when there is none.
    """
    if document is None:
        return []
    parsed = json.loads(document) if isinstance(document, str) else document
    raw = parsed.get("Statement", [])
    statements = [raw] if isinstance(raw, Mapping) else raw
    by_resources: dict[tuple[str, ...], list[str]] = {}
    for statement in statements:
        if not (isinstance(statement, Mapping) and statement.get("Effect") == "Allow"):
            continue
        resources = _strings(statement.get("Resource"))
        for action in _strings(statement.get("Action")):
            used = tuple(r for r in resources if applies_to(action, r))
            by_resources.setdefault(used, []).append(action)
    return [Statement(tuple(actions), used) for used, actions in by_resources.items() if used]


def action_matches(granted: str, query: str) -> bool:
    """Whether some action is matched by both the granted and the queried action pattern."""
    return patterns_overlap(granted, query)


def resource_matches(granted: str, query: str) -> bool:
    """Whether some ARN is matched by both the granted and the queried ARN pattern."""
    n, m = len(granted), len(query)
    # overlap[i][j]: granted[i:] and query[j:] match a common string (bottom-up, no recursion:
    # ARNs can be long).
    overlap = [[False] * (m + 1) for _ in range(n + 1)]
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i < n and granted[i] == "*":
                overlap[i][j] = overlap[i + 1][j] or (j < m and overlap[i][j + 1])
            elif j < m and query[j] == "*":
                overlap[i][j] = overlap[i][j + 1] or (i < n and overlap[i + 1][j])
            elif i == n or j == m:
                overlap[i][j] = i == n and j == m
            else:
                same = granted[i] == query[j] or "?" in (granted[i], query[j])
                overlap[i][j] = same and overlap[i + 1][j + 1]
    return overlap[0][0]


def _matching(
    values: Iterable[str], query: str | None, match: Callable[[str, str], bool]
) -> tuple[str, ...]:
    return tuple(v for v in values if query is None or match(v, query))


def matching_grants(
    statements: Sequence[Statement], action: str | None, resource: str | None
) -> list[Statement]:
    """Per statement, the actions and resources that answer the question (no filter: all).

    A statement counts only when one of its actions and one of its resources both match, as
    IAM evaluates a request against one statement at a time.
    """
    found = []
    for statement in statements:
        actions = _matching(statement.actions, action, action_matches)
        resources = _matching(statement.resources, resource, resource_matches)
        if actions and resources:
            found.append(Statement(actions, resources))
    return found


def target_grants(request: AccessRequest) -> list[Statement]:
    """What a permission set or group grant gave, as far as the request knows: the permission
    set's (or group's) policies live in IAM Identity Center, not in the request, so such a grant
    is reported for every action and resource asked about in its account, rather than missed."""
    if request.target is None:
        return []
    what = "group" if request.group else "permission-set"
    return [Statement((f"{what}:{request.target}",), ("*",))]


def grant_window(request: AccessRequest, events: Sequence[AuditEvent]) -> GrantWindow | None:
    """When the request's grant was in force; None if it was never granted.

    It starts at ``starts_at`` (the policy's DateGreaterThan) and ends at ``expires_at`` (its
    DateLessThan) or at the REVOKED/EXPIRED event if the policy was removed before that.
    """
    if request.policy_document is None or request.starts_at is None or not request.expires_at:
        return None
    window = GrantWindow(request.starts_at, request.expires_at)
    for event in events:
        if event.type in ENDING_EVENTS and event.at < window.end:
            window = GrantWindow(window.start, max(event.at, window.start), event.type)
    return window
