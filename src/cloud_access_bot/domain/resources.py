"""What resource discovery finds, and how a typed query ranks it: plain values, no AWS.

Discovery itself (aws/discovery.py) sits behind ``ports.Discovery``; the modal's suggestions
and ``/request find`` read its results through these types and ``search``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    """One AWS resource a requester can pick; ``arn`` is what goes into the policy."""

    account_id: str
    region: str  # "" for global resources (S3 buckets)
    service: str  # IAM service prefix: s3, dynamodb, lambda, …
    kind: str  # bucket, table, function, queue, …
    name: str
    arn: str
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class DiscoveryFailure:
    account_id: str
    region: str  # "" for a global service
    service: str
    message: str  # for people, e.g. "eu-west-2: AccessDenied on dynamodb:ListTables"


@dataclass(frozen=True)
class DiscoveryResult:
    resources: tuple[Resource, ...]
    failures: tuple[DiscoveryFailure, ...]


def _match_tier(value: str, needle: str) -> int | None:
    """0 exact, 1 prefix, 2 contains, None no match (``value`` already casefolded)."""
    if value == needle:
        return 0
    if value.startswith(needle):
        return 1
    if needle in value:
        return 2
    return None


def _rank(resource: Resource, needle: str) -> tuple[int, int] | None:
    """(tier, field): a match on the name beats the same tier on the ARN, a tag or extra."""
    best: tuple[int, int] | None = None
    others = [resource.arn, *resource.tags.values(), *resource.extra.values()]
    for field_rank, values in ((0, [resource.name]), (1, others)):
        for value in values:
            tier = _match_tier(value.casefold(), needle)
            if tier is not None and (best is None or (tier, field_rank) < best):
                best = (tier, field_rank)
    return best


def search(
    source: DiscoveryResult | Iterable[Resource], query: str, limit: int = 100
) -> list[Resource]:
    """Resources whose name, ARN, tag values or extra values contain ``query``
    (case-insensitive), exact matches first, then prefixes, then the rest, each by name.
    An empty query returns the first ``limit`` by name."""
    resources = source.resources if isinstance(source, DiscoveryResult) else source
    needle = query.strip().casefold()
    ranked = []
    for resource in resources:
        rank = _rank(resource, needle) if needle else (0, 0)
        if rank is not None:
            ranked.append((rank, resource.name.casefold(), resource.arn, resource))
    ranked.sort(key=lambda entry: entry[:3])
    return [entry[3] for entry in ranked[:limit]]
