"""Several grants in one policy document: finding, adding and removing a grant's statements.

IAM counts every inline policy of a role against one 10,240-char budget (whitespace excluded)
and a customer managed policy against 6,144. One policy per grant pays the document envelope
(``{"Version":…,"Statement":[…]}``) once per grant; a packed policy pays it once. Each grant's
statements carry Sids starting with ``sid_prefix(request id)`` (12 hex chars + ``S`` + index,
then ``T`` + the request's ticket when it has one), so a grant is found and removed by Sid alone
and a statement whose Sid does not look like that is never touched.

Bot policy names on a login role: ``<prefix>packed-<n>`` (packed grants) and, from before
packing, ``<prefix><request id>`` (one grant each). Anything else belongs to someone else.

When the inline budget is used up, grants overflow into customer managed policies the bot
creates and attaches to the role, ``<prefix>overflow-<role>-<n>`` (6,144 chars each), as many
as the role's attached-policy quota leaves free (10 by default, policies attached by others
included).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud_access_bot.domain.model import REQUEST_ID, parse_iso
from cloud_access_bot.domain.policy import VERSION, policy_size, sid_prefix

#: IAM's quota for all inline policies of one role together.
ROLE_INLINE_LIMIT = 10_240
#: IAM's quota for one customer managed policy.
MANAGED_POLICY_LIMIT = 6_144

#: IAM's default quota of managed policies attached to one role (raisable to 20).
ATTACHED_POLICIES_PER_ROLE = 10

PACKED_INFIX = "packed-"
OVERFLOW_INFIX = "overflow-"
#: A grant's Sid: its request id, ``S``, the statement's index, and ``T`` + its ticket if any.
_GRANT_SID = re.compile(r"^([0-9a-f]{12})S\d+(?:T[A-Za-z0-9]+)?$")

#: The only statement of a managed policy without grants: IAM refuses a policy without
#: statements, and the permission set must keep finding the policy. It grants nothing (its
#: window closed in 2000) and its Sid is not a grant's.
IDLE_STATEMENT: dict[str, Any] = {
    "Sid": "NoActiveGrants",
    "Effect": "Allow",
    "Action": "sts:GetCallerIdentity",
    "Resource": "*",
    "Condition": {"DateLessThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}},
}

Document = dict[str, Any]


def statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a document (IAM allows a single statement object, not in a list)."""
    if not document:
        return []
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def grant_id(statement: Mapping[str, Any]) -> str | None:
    """The request id a bot-written statement belongs to (None for anyone else's)."""
    match = _GRANT_SID.match(str(statement.get("Sid", "")))
    return match.group(1) if match else None


def is_grant_of(statement: Mapping[str, Any], request_id: str) -> bool:
    return grant_id(statement) is not None and str(statement["Sid"]).startswith(
        sid_prefix(request_id)
    )


def packed_name(prefix: str, number: int) -> str:
    return f"{prefix}{PACKED_INFIX}{number}"


def packed_number(name: str, prefix: str) -> int | None:
    """n for ``<prefix>packed-<n>``, else None."""
    rest = name.removeprefix(prefix)
    if rest == name or not rest.startswith(PACKED_INFIX):
        return None
    digits = rest.removeprefix(PACKED_INFIX)
    return int(digits) if digits.isdigit() else None


def overflow_name(prefix: str, role: str, number: int) -> str:
    return f"{prefix}{OVERFLOW_INFIX}{role}-{number}"


def overflow_number(name: str, prefix: str, role: str) -> int | None:
    """n for ``<prefix>overflow-<role>-<n>``, else None."""
    rest = name.removeprefix(f"{prefix}{OVERFLOW_INFIX}{role}-")
    return int(rest) if rest != name and rest.isdigit() else None


def single_grant_id(name: str, prefix: str) -> str | None:
    """The request id of a one-policy-per-grant name ``<prefix><request id>``, else None."""
    rest = name.removeprefix(prefix)
    return rest if rest != name and REQUEST_ID.match(rest) else None


def is_bot_policy(name: str, prefix: str) -> bool:
    return packed_number(name, prefix) is not None or single_grant_id(name, prefix) is not None


def compact(document: Mapping[str, Any]) -> Document:
    """The same grant with one-element Action/Resource lists written as plain strings."""
    compacted = copy.deepcopy(dict(document))
    for statement in statements(compacted):
        for key in ("Action", "Resource"):
            value = statement.get(key)
            if isinstance(value, list) and len(value) == 1:
                statement[key] = value[0]
    return compacted


def without_grants(document: Mapping[str, Any], request_ids: Iterable[str]) -> tuple[Document, int]:
    """The document minus the statements of ``request_ids``, and how many were removed."""
    wanted = set(request_ids)
    kept = [s for s in statements(document) if not any(is_grant_of(s, r) for r in wanted)]
    removed = len(statements(document)) - len(kept)
    return {**document, "Statement": kept}, removed


def without_grant(document: Mapping[str, Any], request_id: str) -> tuple[Document, int]:
    """The document minus ``request_id``'s statements, and how many were removed."""
    return without_grants(document, [request_id])


def with_grant(document: Mapping[str, Any] | None, grant: Mapping[str, Any]) -> Document:
    """``document`` (or a new one) holding ``grant``'s statements, replacing any it held for
    the same request (an extension rewrites the window in place)."""
    added = statements(grant)
    base: Mapping[str, Any] = document or {"Version": VERSION, "Statement": []}
    kept = statements(base)
    for statement in added:
        request_id = grant_id(statement)
        if request_id is None:
            raise ValueError(f"statement Sid {statement.get('Sid')!r} is not a grant's")
        kept = [s for s in kept if not is_grant_of(s, request_id)]
    kept = [s for s in kept if s.get("Sid") != IDLE_STATEMENT["Sid"]]
    return {"Version": base.get("Version", VERSION), "Statement": [*kept, *added]}


def holds_grant(document: Mapping[str, Any] | None, grant: Mapping[str, Any]) -> bool:
    """Whether every statement of ``grant`` is in ``document`` exactly as written."""
    present = statements(document)
    return all(statement in present for statement in statements(grant))


def managed_document(document: Mapping[str, Any]) -> Document:
    """A managed policy document never left without statements (see IDLE_STATEMENT)."""
    if statements(document):
        return dict(document)
    return {"Version": document.get("Version", VERSION), "Statement": [dict(IDLE_STATEMENT)]}


def grant_ends(documents: Iterable[Mapping[str, Any] | None]) -> dict[str, datetime]:
    """For each grant found in ``documents``, when its window ends (its DateLessThan)."""
    ends: dict[str, datetime] = {}
    for document in documents:
        for statement in statements(document):
            request_id = grant_id(statement)
            if request_id is None:
                continue
            end = statement.get("Condition", {}).get("DateLessThan", {}).get("aws:CurrentTime")
            if isinstance(end, str):
                moment = parse_iso(end)
                ends[request_id] = max(moment, ends.get(request_id, moment))
    return ends


@dataclass(frozen=True)
class Room:
    """Whether a grant fits: ``needed`` chars it adds against ``left`` chars free."""

    needed: int
    left: int

    @property
    def fits(self) -> bool:
        return self.needed <= self.left


@dataclass(frozen=True)
class RolePlan:
    """How to put one grant on a role's inline policies.

    ``writes`` maps policy names to their new documents (None: delete), in the order to apply
    them: the packed policy receiving the grant comes first unless the role has no room for the
    new statements while the old ones (of an extension moving policies) still exist.
    """

    target: str
    writes: tuple[tuple[str, Document | None], ...]
    room: Room


def plan_role_grant(
    policies: Mapping[str, Mapping[str, Any]],
    prefix: str,
    grant: Mapping[str, Any],
    request_id: str,
    limit: int = ROLE_INLINE_LIMIT,
) -> RolePlan:
    """Where ``grant`` goes among a role's inline ``policies`` (name → document).

    Its previous statements (an extension, or a retried grant) are removed wherever they are,
    including a one-policy-per-grant policy; the new ones go into the packed policy that held
    them, else the lowest-numbered packed policy, else a new ``packed-1``. Other policies count
    against the limit and are never changed.
    """
    cleaned = role_removals(policies, prefix, [request_id])
    holder = next((n for n in cleaned if packed_number(n, prefix) is not None), None)
    after = {**policies, **cleaned}
    used = sum(policy_size(d) for d in after.values() if d is not None)
    numbers = sorted(n for n in (packed_number(p, prefix) for p in policies) if n is not None)
    if holder is not None:
        target = holder
    elif numbers:
        target = packed_name(prefix, numbers[0])
    else:
        target = packed_name(prefix, 1)
    before = after.get(target)
    written = with_grant(before, grant)
    room = Room(
        needed=policy_size(written) - (policy_size(before) if before else 0), left=limit - used
    )
    removals = [(name, doc) for name, doc in cleaned.items() if name != target]
    in_between = sum(policy_size(d) for n, d in policies.items() if n != target)
    first = in_between + policy_size(written) <= limit
    target_write: list[tuple[str, Document | None]] = [(target, written)]
    writes = target_write + removals if first else removals + target_write
    return RolePlan(target=target, writes=tuple(writes), room=room)


def role_removals(
    policies: Mapping[str, Mapping[str, Any]], prefix: str, request_ids: Iterable[str]
) -> dict[str, Document | None]:
    """The bot inline policies holding statements of ``request_ids``, without them (None:
    delete it: emptied, or a one-policy-per-grant policy of one of them)."""
    wanted = set(request_ids)
    changed: dict[str, Document | None] = {}
    for name, document in policies.items():
        if single_grant_id(name, prefix) in wanted:
            changed[name] = None
        elif packed_number(name, prefix) is not None:
            kept, removed = without_grants(document, wanted)
            if removed:
                changed[name] = kept if statements(kept) else None
    return changed


def managed_removals(
    policies: Mapping[int, Mapping[str, Any]], request_ids: Iterable[str]
) -> dict[int, Document | None]:
    """The overflow policies (by number) holding statements of ``request_ids``, without them
    (None: emptied, to be detached and deleted)."""
    wanted = set(request_ids)
    changed: dict[int, Document | None] = {}
    for number, document in policies.items():
        kept, removed = without_grants(document, wanted)
        if removed:
            changed[number] = kept if statements(kept) else None
    return changed


@dataclass(frozen=True)
class OverflowPlan:
    """How to put one grant on a login role that may overflow into managed policies.

    ``overflow`` is the number of the overflow policy receiving the grant (None: an inline
    policy). ``inline`` and ``managed`` are the writes to apply, in order (None: delete), the
    receiving policy's first: the grant lands before its old statements (an extension's, a
    retry's) are removed from wherever they were. ``room`` is the inline room, for people.
    """

    fits: bool
    target: str
    overflow: int | None
    inline: tuple[tuple[str, Document | None], ...]
    managed: tuple[tuple[int, Document | None], ...]
    room: Room


def plan_overflow_grant(
    inline: Mapping[str, Mapping[str, Any]],
    overflow: Mapping[int, Mapping[str, Any]],
    prefix: str,
    role: str,
    grant: Mapping[str, Any],
    request_id: str,
    *,
    free_slots: int,
    limit: int = ROLE_INLINE_LIMIT,
    managed_limit: int = MANAGED_POLICY_LIMIT,
) -> OverflowPlan:
    """Where ``grant`` goes on a role with ``inline`` policies (name → document) and the bot's
    ``overflow`` policies (number → document), ``free_slots`` managed policies more being
    attachable. In order: the overflow policy already holding it (in place), the inline
    policies (see ``plan_role_grant``), the other overflow policies, a new one."""
    role_plan = plan_role_grant(inline, prefix, grant, request_id, limit)
    old_managed = managed_removals(overflow, [request_id])
    holder = min(old_managed, default=None)
    new = min(set(range(1, len(overflow) + 2)) - set(overflow))
    candidates: list[int | None] = [holder] if holder is not None else []
    candidates += [None, *(n for n in sorted(overflow) if n != holder)]
    candidates += [new] if free_slots > 0 else []
    for number in candidates:
        if number is None:
            if role_plan.room.fits:
                managed = tuple(old_managed.items())
                return OverflowPlan(
                    True, role_plan.target, None, role_plan.writes, managed, role_plan.room
                )
            continue
        written, room = plan_managed_grant(overflow.get(number), grant, managed_limit)
        if room.fits:
            others = tuple((n, d) for n, d in old_managed.items() if n != number)
            return OverflowPlan(
                True,
                overflow_name(prefix, role, number),
                number,
                tuple(role_removals(inline, prefix, [request_id]).items()),
                ((number, written), *others),
                role_plan.room,
            )
    return OverflowPlan(False, role_plan.target, None, (), (), role_plan.room)


def plan_managed_grant(
    document: Mapping[str, Any] | None,
    grant: Mapping[str, Any],
    limit: int = MANAGED_POLICY_LIMIT,
) -> tuple[Document, Room]:
    """The managed policy's next document holding ``grant``, and whether it fits."""
    written = with_grant(document, grant)
    others = [s for s in statements(written) if s not in statements(grant)]
    base = {"Version": written["Version"], "Statement": others}
    return written, Room(
        needed=policy_size(written) - policy_size(base), left=limit - policy_size(base)
    )


# -- fairness on a shared role ----------------------------------------------------------------

#: A RoleId's length (``AROA`` + 17 characters): stands in for the login role's id when a
#: grant's size is estimated before it is written.
ROLE_ID_LENGTH = 21


@dataclass(frozen=True)
class FairShare:
    """What one requester's open grants may take of one shared login role."""

    grants: int
    chars: int


def fair_share_problem(
    held: Iterable[int], new_size: int, share: FairShare, role: str, account: str
) -> str | None:
    """Why one more grant of ``new_size`` characters would take more than the requester's
    share of ``role`` (``held``: the sizes of their open grants on it), else None.

    A shared login role holds everyone's grants within one 10,240-character budget: without a
    per-person share, one requester could fill it and lock every colleague out.
    """
    sizes = list(held)
    where = f"login role {role} in {account}"
    if len(sizes) + 1 > share.grants:
        return (
            f"You already have {len(sizes)} open request(s) on {where}; one person may hold "
            f"at most {share.grants} at a time so the role keeps room for everyone. Revoke one "
            "you no longer need (`/request list`) or wait until one ends, then ask again."
        )
    total = sum(sizes) + new_size
    if total > share.chars:
        return (
            f"This request needs about {new_size} characters of policy on {where}, and your "
            f"open grants there already take {sum(sizes)}: one person may use at most "
            f"{share.chars} so the role keeps room for everyone. Ask for fewer actions or "
            "resources, or revoke a grant you no longer need."
        )
    return None
