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
_SUFFIXES_TO_DROP: Mapping[str, str] = {"logs": ":*"}

_VARIABLE = re.compile(r"\$\{[^}]+\}")
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
    pieces = [re.escape(literals[0])]
    for i, literal in enumerate(literals[1:], start=1):
        free = i == variables and not literal and literals[i - 1].endswith("/")
        pieces.append(".+" if free else "[^:]+")
        pieces.append(re.escape(literal))
    specificity = (sum(len(s) for s in literals), variables)
    return _Format(
        resource_type, template, service, region, account, re.compile("".join(pieces)), specificity
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
        return replace(arn, resource=arn.resource[: -len(suffix)])
    return arn


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


def validate_arn(
    text: str,
    *,
    service: str,
    account_id: str,
    regions: Sequence[str],
    allow_wildcards: bool,
    catalog: Catalog | None = None,
) -> str | None:
    """What is wrong with ``text`` as a resource of ``service`` in ``account_id``, or None.

    ``regions`` are the configured regions; empty means any region is accepted.
    """
    arn = parse_arn(text.strip())
    if arn is None:
        return (
            f"'{text}' is not an ARN: expected arn:partition:service:region:account:resource "
            "(e.g. arn:aws:s3:::my-bucket)"
        )
    if arn.partition not in PARTITIONS:
        return f"Unknown partition '{arn.partition}': expected one of {', '.join(PARTITIONS)}"
    arn = _normalise(arn)
    if not allow_wildcards and _has_wildcard(str(arn)):
        return "Wildcards (* or ?) are not allowed here: name the exact resource"
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
    if None in problems:
        return None
    return problems[0]


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
