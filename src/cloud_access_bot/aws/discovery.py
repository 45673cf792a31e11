"""Resource discovery for the request modal: which S3 buckets, tables, queues… exist where.

The modal's resource picker is an external select, so options must come back within Slack's
3-second budget even for many accounts and regions. Every (account, region, service) is one
*unit*: units run concurrently (bounded by a semaphore), each is cached for a TTL, concurrent
callers of one unit share a single in-flight call, and a failing unit becomes a
``DiscoveryFailure`` in the result instead of hiding what the other units found.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.aws.errors import AssumeRoleError, error_code
from cloud_access_bot.domain.resources import DiscoveryFailure, DiscoveryResult, Resource

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call made by discovery, as seen by the ``before_call`` hook."""

    account_id: str
    region: str
    service: str
    operation: str  # API operation name, e.g. "ListTables"


@dataclass(frozen=True)
class Scope:
    """Where a discoverer runs: it needs the account and region to build ARNs."""

    account_id: str
    region: str  # "" for a global service
    partition: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def resource(
        self,
        service: str,
        kind: str,
        name: str,
        arn: str,
        *,
        tags: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Resource:
        """A resource found in this account and region."""
        return Resource(
            self.account_id, self.region, service, kind, name, arn, tags or {}, extra or {}
        )


Discoverer = Callable[[Any, Scope], Coroutine[Any, Any, list[Resource]]]


@dataclass(frozen=True)
class ServiceDiscoverer:
    """How to list one IAM service: its boto3 client name and the discoverers to run on it."""

    client_name: str
    discoverers: tuple[Discoverer, ...]
    is_global: bool = False


class ClientFactory(Protocol):
    """The part of ``AwsClients`` discovery uses."""

    async def with_assumed_shared(
        self,
        service: str,
        role_arn: str,
        work: Callable[[Any], Awaitable[T]],
        region: str | None = None,
    ) -> T: ...


BeforeCall = Callable[[ApiCall], Awaitable[None]]


async def _items(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item under ``key`` across all pages of ``operation``."""
    items: list[dict[str, Any]] = []
    async for page in client.get_paginator(operation).paginate(**params):
        items.extend(page.get(key) or [])
    return items


def _tags(pairs: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {pair["Key"]: pair.get("Value", "") for pair in pairs or []}


def _present(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def _last(arn: str, separator: str = "/") -> str:
    return arn.rsplit(separator, 1)[-1]


@dataclass(frozen=True)
class Listing:
    """A discoverer for one paginated listing whose every item is one resource.

    ``name``, ``arn`` and each ``extra`` value name a field of the item, or compute the value
    from it (``arn`` also gets the scope); ``tags`` names a field of ``Key``/``Value`` pairs.
    Extra values that are absent or empty are left out.
    """

    service: str
    kind: str
    operation: str
    items: str  # the response field holding the items
    name: str | Callable[[Any], str]
    arn: str | Callable[[Any, Scope], str]
    tags: str | None = None
    extra: Mapping[str, str | Callable[[Any], str | None]] = field(default_factory=dict)

    async def __call__(self, client: Any, scope: Scope) -> list[Resource]:
        return [
            self._resource(item, scope) for item in await _items(client, self.operation, self.items)
        ]

    def _resource(self, item: Any, scope: Scope) -> Resource:
        name = item[self.name] if isinstance(self.name, str) else self.name(item)
        arn = item[self.arn] if isinstance(self.arn, str) else self.arn(item, scope)
        extra = {
            label: item.get(read) if isinstance(read, str) else read(item)
            for label, read in self.extra.items()
        }
        tags = _tags(item.get(self.tags)) if self.tags else None
        return scope.resource(
            self.service, self.kind, name, arn, tags=tags, extra=_present(**extra)
        )


def _queue_name(url: str) -> str:
    """ListQueues returns URLs only (and no QueueUrls key at all when there is none)."""
    return _last(url.rstrip("/"))


def _log_group_arn(group: Any, scope: Scope) -> str:
    """The policy ARN of a log group has no trailing ``:*`` (the older ``arn`` field has it)."""
    return group.get("logGroupArn") or scope.arn("logs", f"log-group:{group['logGroupName']}")


#: The listings whose items are resources one for one (the others have functions below).
LISTINGS: tuple[Listing, ...] = (
    Listing(
        "s3",
        "bucket",
        operation="list_buckets",
        items="Buckets",
        name="Name",
        arn=lambda bucket, scope: f"arn:{scope.partition}:s3:::{bucket['Name']}",
        extra={"bucket_region": "BucketRegion"},
    ),
    Listing(
        "dynamodb",
        "table",
        operation="list_tables",
        items="TableNames",
        name=str,
        arn=lambda name, scope: scope.arn("dynamodb", f"table/{name}"),
    ),
    Listing(
        "lambda",
        "function",
        operation="list_functions",
        items="Functions",
        name="FunctionName",
        arn="FunctionArn",
        extra={"runtime": "Runtime"},
    ),
    Listing(
        "sqs",
        "queue",
        operation="list_queues",
        items="QueueUrls",
        name=_queue_name,
        arn=lambda url, scope: scope.arn("sqs", _queue_name(url)),
        extra={"url": str},
    ),
    Listing(
        "sns",
        "topic",
        operation="list_topics",
        items="Topics",
        name=lambda topic: _last(topic["TopicArn"], ":"),
        arn="TopicArn",
    ),
    Listing(
        "secretsmanager",
        "secret",
        operation="list_secrets",
        items="SecretList",
        name="Name",
        arn="ARN",
        tags="Tags",
    ),
    Listing(
        "rds",
        "db",
        operation="describe_db_instances",
        items="DBInstances",
        name="DBInstanceIdentifier",
        arn="DBInstanceArn",
        tags="TagList",
        extra={
            "engine": "Engine",
            "endpoint": lambda db: (db.get("Endpoint") or {}).get("Address"),
        },
    ),
    Listing(
        "rds",
        "cluster",
        operation="describe_db_clusters",
        items="DBClusters",
        name="DBClusterIdentifier",
        arn="DBClusterArn",
        tags="TagList",
        extra={"engine": "Engine", "endpoint": "Endpoint"},
    ),
    Listing(
        "ecr",
        "repository",
        operation="describe_repositories",
        items="repositories",
        name="repositoryName",
        arn="repositoryArn",
        extra={"uri": "repositoryUri"},
    ),
    Listing(
        "logs",
        "log-group",
        operation="describe_log_groups",
        items="logGroups",
        name="logGroupName",
        arn=_log_group_arn,
    ),
    Listing(
        "states",
        "state-machine",
        operation="list_state_machines",
        items="stateMachines",
        name="name",
        arn="stateMachineArn",
    ),
)


def _listed(service: str) -> tuple[Discoverer, ...]:
    return tuple(listing for listing in LISTINGS if listing.service == service)


async def discover_instances(client: Any, scope: Scope) -> list[Resource]:
    """Running and stopped instances, named ``<id> (<Name tag>)``, with their IPs in extra."""
    resources = []
    for reservation in await _items(client, "describe_instances", "Reservations"):
        for instance in reservation.get("Instances", []):
            state = instance.get("State", {}).get("Name", "")
            if state in ("shutting-down", "terminated"):
                continue
            instance_id = instance["InstanceId"]
            tags = _tags(instance.get("Tags"))
            label = tags.get("Name")
            resources.append(
                scope.resource(
                    "ec2",
                    "instance",
                    f"{instance_id} ({label})" if label else instance_id,
                    scope.arn("ec2", f"instance/{instance_id}"),
                    tags=tags,
                    extra=_present(
                        private_ip=instance.get("PrivateIpAddress"),
                        public_ip=instance.get("PublicIpAddress"),
                        state=state,
                    ),
                )
            )
    return resources


def _aws_managed(alias_name: str) -> bool:
    return alias_name.startswith("alias/aws/")


async def discover_keys(client: Any, scope: Scope) -> list[Resource]:
    """Customer keys, named ``<key id> (<aliases>)``, and their aliases. AWS-managed aliases
    (``alias/aws/*``) and the keys behind them are left out: nobody grants access to those."""
    aliases = await _items(client, "list_aliases", "Aliases")
    managed_keys = {
        alias["TargetKeyId"]
        for alias in aliases
        if _aws_managed(alias["AliasName"]) and alias.get("TargetKeyId")
    }
    custom = [alias for alias in aliases if not _aws_managed(alias["AliasName"])]
    names_by_key: dict[str, list[str]] = {}
    for alias in custom:
        names_by_key.setdefault(alias.get("TargetKeyId", ""), []).append(alias["AliasName"])
    resources = []
    for key in await _items(client, "list_keys", "Keys"):
        key_id = key["KeyId"]
        if key_id in managed_keys:
            continue
        names = ", ".join(names_by_key.get(key_id, []))
        label = f"{key_id} ({names})" if names else key_id
        resources.append(scope.resource("kms", "key", label, key["KeyArn"]))
    resources.extend(
        scope.resource(
            "kms",
            "alias",
            alias["AliasName"],
            alias["AliasArn"],
            extra=_present(target_key_id=alias.get("TargetKeyId")),
        )
        for alias in custom
    )
    return resources


async def discover_ecs(client: Any, scope: Scope) -> list[Resource]:
    """Clusters, then each cluster's services (one listing per cluster, run concurrently)."""
    cluster_arns: list[Any] = await _items(client, "list_clusters", "clusterArns")
    async with asyncio.TaskGroup() as group:
        listings = [
            group.create_task(_items(client, "list_services", "serviceArns", cluster=arn))
            for arn in cluster_arns
        ]
    resources = []
    for cluster_arn, listing in zip(cluster_arns, listings, strict=True):
        cluster = _last(cluster_arn)
        resources.append(scope.resource("ecs", "cluster", cluster, cluster_arn))
        services: list[Any] = listing.result()
        resources.extend(
            scope.resource("ecs", "service", _last(arn), arn, extra={"cluster": cluster})
            for arn in services
        )
    return resources


#: IAM service prefix → how to discover its resources.
DISCOVERERS: Mapping[str, ServiceDiscoverer] = MappingProxyType(
    {
        "s3": ServiceDiscoverer("s3", _listed("s3"), is_global=True),
        "dynamodb": ServiceDiscoverer("dynamodb", _listed("dynamodb")),
        "lambda": ServiceDiscoverer("lambda", _listed("lambda")),
        "sqs": ServiceDiscoverer("sqs", _listed("sqs")),
        "sns": ServiceDiscoverer("sns", _listed("sns")),
        "ec2": ServiceDiscoverer("ec2", (discover_instances,)),
        "secretsmanager": ServiceDiscoverer("secretsmanager", _listed("secretsmanager")),
        "kms": ServiceDiscoverer("kms", (discover_keys,)),
        "rds": ServiceDiscoverer("rds", _listed("rds")),
        "ecr": ServiceDiscoverer("ecr", _listed("ecr")),
        "logs": ServiceDiscoverer("logs", _listed("logs")),
        "ecs": ServiceDiscoverer("ecs", (discover_ecs,)),
        "states": ServiceDiscoverer("stepfunctions", _listed("states")),
    }
)


@dataclass(frozen=True)
class _Unit:
    account_id: str
    role_arn: str
    region: str  # "" for a global service
    service: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account_id, self.region, self.service)

    @property
    def where(self) -> str:
        return self.region or "global"


_Outcome = tuple[Resource, ...] | DiscoveryFailure

#: The unit whose calls the current task makes, read by the client event handler.
_current_call_hook: contextvars.ContextVar[tuple[_Unit, BeforeCall] | None] = (
    contextvars.ContextVar("discovery_call_hook", default=None)
)


async def _run_call_hook(model: Any, **_: Any) -> None:
    """botocore ``before-call`` handler. Clients are shared (AwsClients keeps them open), so
    the hook to run comes from the calling task's context: other users see no delay."""
    current = _current_call_hook.get()
    if current is not None:
        unit, hook = current
        await hook(ApiCall(unit.account_id, unit.region, unit.service, model.name))


def _describe(unit: _Unit, exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    if isinstance(exc, AssumeRoleError):
        return f"{unit.where}: {exc.code} assuming {exc.role_arn}"
    if isinstance(exc, ClientError):
        return f"{unit.where}: {error_code(exc) or 'Error'} on {unit.service}:{exc.operation_name}"
    detail = " ".join(str(exc).split())  # botocore's validation messages span lines
    if isinstance(exc, BotoCoreError):
        return f"{unit.where}: {detail}"
    return f"{unit.where}: {type(exc).__name__}: {detail}"


class ResourceDiscovery:
    """Lists resources across accounts, regions and services, with a per-unit TTL cache.

    ``call_delay`` sleeps before every AWS call and ``before_call`` is awaited before every AWS
    call (after the delay): for tests and benchmarks that simulate latency, count calls or
    inject errors.
    """

    def __init__(
        self,
        clients: ClientFactory,
        *,
        ttl_seconds: float = 300.0,
        concurrency: int = 32,
        clock: Callable[[], float] = time.monotonic,
        call_delay: float = 0.0,
        before_call: BeforeCall | None = None,
        registry: Mapping[str, ServiceDiscoverer] = DISCOVERERS,
    ) -> None:
        self._clients = clients
        self._ttl = ttl_seconds
        self._semaphore = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._call_delay = call_delay
        self._before_call = before_call
        self._registry = registry
        self._cache: dict[tuple[str, str, str], tuple[float, tuple[Resource, ...]]] = {}
        self._inflight: dict[tuple[str, str, str], asyncio.Task[_Outcome]] = {}

    async def discover(
        self,
        accounts: Sequence[tuple[str, str]],
        regions: Sequence[str],
        services: Sequence[str],
        *,
        refresh: bool = False,
        wait_seconds: float | None = None,
    ) -> DiscoveryResult:
        """Resources of every (account, region, service); ``accounts`` holds
        ``(account_id, role_arn)`` pairs. Global services are listed once per account.

        ``refresh`` skips the cache (an in-flight call is still shared). Units not done after
        ``wait_seconds`` are reported as failures and keep loading into the cache (Slack gives
        an external select 3 seconds).
        """
        outcomes: dict[tuple[str, str, str], _Outcome] = {}
        loading: dict[tuple[str, str, str], asyncio.Task[_Outcome]] = {}
        units = self._units(accounts, regions, services)
        for unit in units:
            if unit.service not in self._registry:
                outcomes[unit.key] = DiscoveryFailure(
                    unit.account_id, unit.region, unit.service, f"no discovery for {unit.service}"
                )
                continue
            cached = None if refresh else self._cached(unit.key)
            if cached is not None:
                outcomes[unit.key] = cached
            else:
                loading[unit.key] = self._start(unit)
        if loading:
            await asyncio.wait(loading.values(), timeout=wait_seconds)
        for unit in units:
            task = loading.get(unit.key)
            if task is None:
                continue
            outcomes[unit.key] = (
                task.result()
                if task.done()
                else DiscoveryFailure(
                    unit.account_id,
                    unit.region,
                    unit.service,
                    f"{unit.where}: {unit.service} still loading after {wait_seconds:g} s",
                )
            )
        resources: list[Resource] = []
        failures: list[DiscoveryFailure] = []
        for unit in units:
            outcome = outcomes[unit.key]
            if isinstance(outcome, DiscoveryFailure):
                failures.append(outcome)
            else:
                resources.extend(outcome)
        return DiscoveryResult(tuple(resources), tuple(failures))

    def _units(
        self, accounts: Sequence[tuple[str, str]], regions: Sequence[str], services: Sequence[str]
    ) -> list[_Unit]:
        units: dict[tuple[str, str, str], _Unit] = {}
        for account_id, role_arn in accounts:
            for service in services:
                spec = self._registry.get(service)
                for region in ("",) if spec and spec.is_global else regions:
                    unit = _Unit(account_id, role_arn, region, service)
                    units.setdefault(unit.key, unit)
        return list(units.values())

    def _cached(self, key: tuple[str, str, str]) -> tuple[Resource, ...] | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires_at, resources = entry
        if self._clock() >= expires_at:
            del self._cache[key]
            return None
        return resources

    def _start(self, unit: _Unit) -> asyncio.Task[_Outcome]:
        """The in-flight task for ``unit``, started if there is none, so callers share it."""
        task = self._inflight.get(unit.key)
        if task is None:
            task = asyncio.create_task(self._load(unit), name=f"discover {unit.key}")
            self._inflight[unit.key] = task
            task.add_done_callback(lambda _: self._inflight.pop(unit.key, None))
        return task

    async def _load(self, unit: _Unit) -> _Outcome:
        """Never raises: a failure is an outcome, so every sharing caller gets it."""
        async with self._semaphore:
            try:
                resources = await self._fetch(unit)
            except Exception as exc:
                message = _describe(unit, exc)
                logger.warning(
                    "discovery failed for account %s: %s",
                    unit.account_id,
                    message,
                    exc_info=not isinstance(exc, ClientError | BotoCoreError | AssumeRoleError),
                )
                return DiscoveryFailure(unit.account_id, unit.region, unit.service, message)
        self._cache[unit.key] = (self._clock() + self._ttl, resources)
        return resources

    async def _fetch(self, unit: _Unit) -> tuple[Resource, ...]:
        spec = self._registry[unit.service]

        async def work(client: Any) -> tuple[Resource, ...]:
            if self._call_delay or self._before_call:
                client.meta.events.register(
                    "before-call", _run_call_hook, unique_id="cloud-access-bot-discovery"
                )
                _current_call_hook.set((unit, self._hook))
            scope = Scope(unit.account_id, unit.region, client.meta.partition)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(find(client, scope)) for find in spec.discoverers]
            return tuple(resource for task in tasks for resource in task.result())

        return await self._clients.with_assumed_shared(
            spec.client_name, unit.role_arn, work, unit.region or None
        )

    async def _hook(self, call: ApiCall) -> None:
        if self._call_delay:
            await asyncio.sleep(self._call_delay)
        if self._before_call:
            await self._before_call(call)
