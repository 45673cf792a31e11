"""The running bot: assembles adapters, keeps the Socket Mode connection, sweeps, shuts down.

``BotRuntime`` is used by ``cloud-access-bot run``, by ``demo`` and by the end-to-end tests, so
the three run exactly the same wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler

from cloud_access_bot.accounts_source import AccountsSource
from cloud_access_bot.audit.review import UsageReviews
from cloud_access_bot.audit.slack_text import audit_subcommand, usage_text
from cloud_access_bot.aws.archive import S3Archive
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.cloudtrail import CloudTrailLookup
from cloud_access_bot.aws.discovery import ResourceDiscovery
from cloud_access_bot.aws.drainer import OutboxDrainer
from cloud_access_bot.aws.events import EventBridgePublisher
from cloud_access_bot.aws.explain import explain
from cloud_access_bot.aws.granter import InlinePolicyGranter, KeyedLocks
from cloud_access_bot.aws.identity_center import (
    AssignmentLedger,
    IdentityCenter,
    IdentityCenterOffers,
)
from cloud_access_bot.aws.identity_center_granters import (
    GroupMembershipGranter,
    PermissionSetGranter,
    RequestPermissionSetGranter,
)
from cloud_access_bot.aws.leases import DynamoLeases
from cloud_access_bot.aws.managed_granter import ManagedPolicyGranter
from cloud_access_bot.aws.organizations import organization_directory
from cloud_access_bot.aws.reconcile import (
    RECENT_REQUESTS,
    frequent_scope,
    recently_requested,
    reconcile,
)
from cloud_access_bot.aws.session_granter import SessionCredentialsGranter
from cloud_access_bot.aws.signin import AiohttpTokenFetcher
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import AccessMode, BotConfig, ConfigError
from cloud_access_bot.config_source import config_source_from
from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import AccessRequest, utcnow
from cloud_access_bot.domain.policy import lint_policy
from cloud_access_bot.health import HealthState, write_health
from cloud_access_bot.metrics import Recorder, Sink
from cloud_access_bot.metrics.emf import EmfSink
from cloud_access_bot.metrics.prometheus import PrometheusSink
from cloud_access_bot.ports import Metrics, StoreUnavailable
from cloud_access_bot.service import EXPIRY_CONCURRENCY, AccessService
from cloud_access_bot.service_batch import BatchService
from cloud_access_bot.settings import Settings
from cloud_access_bot.slack import commands, home
from cloud_access_bot.slack.accounts_command import accounts_subcommand
from cloud_access_bot.slack.app import Inflight, build_app
from cloud_access_bot.slack.directory import SlackDirectory
from cloud_access_bot.slack.listeners import account_options
from cloud_access_bot.slack.metered import CountingRateLimitRetryHandler, MeteredWebClient
from cloud_access_bot.slack.notifier import SlackNotifier
from cloud_access_bot.slack.socket_handler import AckingSocketModeHandler
from cloud_access_bot.slack.suggestions import CatalogSuggestions
from cloud_access_bot.startup import StartupFailed, check_discovered_roles, preflight

log = logging.getLogger(__name__)

#: Reconcile IAM against the store every this many sweeps (about every 5 minutes at 15 s).
RECONCILE_EVERY = 20
#: With AWS Organizations those passes check the file's accounts and the recently requested
#: ones (aws/reconcile.py); every account is checked this often, the first time this long
#: after start (not during the start-up's own work).
RECONCILE_ALL_EVERY_S = 24 * 3600.0
RECONCILE_ALL_FIRST_S = 3600.0
#: How long ``start`` waits for the first AWS Organizations listing before connecting; a
#: longer one (thousands of accounts whose tags are read) finishes in the background.
FIRST_LISTING_WAIT_S = 60.0


@dataclass(frozen=True)
class SlackConnection:
    app_token: str
    bot_token: str
    api_url: str


class BotRuntime:
    """One bot instance: Socket Mode handler + sweeper + health file."""

    def __init__(
        self,
        *,
        slack: SlackConnection,
        config: Callable[[], BotConfig],
        clients: AwsClients,
        clock: Callable[[], datetime] = utcnow,
        health_file: str | None = None,
        sweep_interval: float | None = None,
        ping_interval: float = 10.0,
        discovery: ResourceDiscovery | None = None,
        expiry_concurrency: int = EXPIRY_CONCURRENCY,
        metrics: Metrics | None = None,
    ) -> None:
        self._slack = slack
        self.metrics = metrics or Recorder()
        # Everything below reads the file's accounts plus those Organizations lists, with the
        # rules applied (accounts_source.py).
        self.accounts = AccountsSource(config, lambda file: organization_directory(clients, file))
        config = self.accounts.config
        self._config = config
        self._clients = clients
        self._clock = clock
        self._health_file = health_file
        self._sweep_interval = sweep_interval
        self._ping_interval = ping_interval
        self.inflight = Inflight()
        self._reconciling: asyncio.Task[None] | None = None
        self._reconcile_all_at = time.monotonic() + RECONCILE_ALL_FIRST_S
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        config_now = config()
        self.health = HealthState(
            connected=False,
            started_at=utcnow(),
            sweep_interval_s=sweep_interval or config_now.sweep_interval_seconds,
        )
        self.store = DynamoStore(
            clients,
            config_now.dynamodb_table,
            retention_days=config_now.audit_retention_days,
            clock=clock,
            outbox=lambda: config().audit_archive is not None or config().event_bus is not None,
            queued=lambda: self.drainer.wake(),
        )
        self.drainer = OutboxDrainer(
            clients,
            config_now.dynamodb_table,
            config=config,
            writer=S3Archive(clients),
            publisher=EventBridgePublisher(clients),
            metrics=self.metrics,
            clock=clock,
        )
        # Replicas (two run side by side during every ECS deployment) take turns on each IAM
        # document the granters rewrite.
        lease = DynamoLeases(clients, config_now.dynamodb_table, clock=clock).hold
        self._lease = lease
        # ...and tasks of this process take turns on them, granters and reconciliation alike.
        self._locks = KeyedLocks()
        # One HTTP session for every Web API call: connections (and TLS) are reused instead of
        # opening one per call.
        self._http = aiohttp.ClientSession()
        self.client = MeteredWebClient(
            metrics=self.metrics,
            token=slack.bot_token,
            base_url=slack.api_url,
            session=self._http,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                CountingRateLimitRetryHandler(self.metrics, max_retry_count=20),
            ],
        )
        self.catalog = Catalog.default()
        self.discovery = discovery or ResourceDiscovery(clients)
        self.notifier = SlackNotifier(self.client, config)
        self.directory = SlackDirectory(self.client)
        identity_center = IdentityCenter(clients)
        ledger = AssignmentLedger(clients, config_now.dynamodb_table)
        self.identity_center = IdentityCenterOffers(
            identity_center, lambda: config().identity_center
        )
        self.service = AccessService(
            config=config,
            store=self.store,
            granters={
                AccessMode.INLINE_POLICY: InlinePolicyGranter(
                    clients,
                    config_now.policy_name_prefix,
                    clock=clock,
                    merge=True,
                    lease=lease,
                    locks=self._locks,
                ),
                AccessMode.MANAGED_POLICY: ManagedPolicyGranter(
                    clients, clock=clock, lease=lease, locks=self._locks
                ),
                AccessMode.SESSION_CREDENTIALS: SessionCredentialsGranter(
                    clients,
                    deliver=lambda request, text: self.notifier.tell(request.requester_id, text),
                    fetch_token=AiohttpTokenFetcher(),
                    cli_credentials=lambda account: account.session_cli_credentials,
                    clock=clock,
                ),
                AccessMode.PERMISSION_SET: PermissionSetGranter(
                    identity_center,
                    ledger,
                    lambda: config().identity_center,
                    lease=lease,
                    locks=self._locks,
                ),
                AccessMode.GROUP_MEMBERSHIP: GroupMembershipGranter(
                    identity_center,
                    ledger,
                    lambda: config().identity_center,
                    lease=lease,
                    locks=self._locks,
                ),
                AccessMode.REQUEST_PERMISSION_SET: RequestPermissionSetGranter(
                    identity_center,
                    ledger,
                    lambda: config().identity_center,
                    lease=lease,
                    clock=clock,
                    locks=self._locks,
                ),
            },
            directory=self.directory,
            notifier=self.notifier,
            access_level=self.catalog.access_level,
            clock=clock,
            expiry_concurrency=expiry_concurrency,
            metrics=self.metrics,
            identity_center=self.identity_center,
        )
        trail = CloudTrailLookup(clients)
        self.usage_reviews = UsageReviews(self.store, trail, config, self._record_review)
        self.batch = BatchService(
            service=self.service, store=self.store, notifier=self.notifier, config=config
        )
        deps = home.Deps(
            client=self.client,
            service=self.service,
            store=self.store,
            config=config,
            discovery=self.discovery,
            directory=self.directory,
            catalog=self.catalog,
            clock=clock,
            inflight=self.inflight,
        )
        self.app = build_app(
            client=self.client,
            service=self.service,
            suggestions=CatalogSuggestions(self.catalog, self.discovery, config),
            config=config,
            inflight=self.inflight,
            identity_center=self.identity_center,
            usage=lambda request: usage_text(self.store, trail, config(), request.id),
            batch_service=self.batch,
            subcommands={
                **commands.subcommands(deps),
                "audit": audit_subcommand(
                    store=self.store, directory=self.directory, config=config, clock=clock
                ),
                "accounts": accounts_subcommand(
                    config=config,
                    refresh=functools.partial(self.accounts.refresh, all_tags=True),
                    directory=self.directory,
                ),
            },
        )
        home.register_home(self.app, deps)
        account_options.register(
            self.app, config=config, history=self.store.for_user, directory=self.directory
        )
        self.notifier.on_change(lambda request: home.publish_homes(deps, request))
        commands.register_commands(self.app, deps)
        self.handler: AsyncSocketModeHandler | None = None

    async def start(self, connect_timeout: float = 30.0) -> None:
        if self._config().create_table:
            await self.store.ensure_table()
        await self._first_listing()
        self.handler = AckingSocketModeHandler(
            self.app,
            self._slack.app_token,
            inflight=self.inflight,
            ping_interval=self._ping_interval,
            on_ack=self.metrics.acked,
        )
        await asyncio.wait_for(self.handler.connect_async(), connect_timeout)
        self.health = replace(self.health, started_at=utcnow())
        self._tasks.append(asyncio.create_task(self._sweep_loop(), name="sweeper"))
        self._tasks.append(asyncio.create_task(self.drainer.run(self._stopping), name="outbox"))
        self._tasks.append(asyncio.create_task(self._review_loop(), name="usage-reviews"))
        self._tasks.append(
            asyncio.create_task(self.accounts.watch(self._stopping), name="organizations")
        )
        if self._health_file:
            self._tasks.append(asyncio.create_task(self._health_loop(), name="health"))
        log.info("connected to Slack over Socket Mode")

    async def _first_listing(self) -> None:
        """List AWS Organizations before connecting, waiting at most FIRST_LISTING_WAIT_S;
        a longer listing goes on in the background (the file's accounts work meanwhile)."""
        listing = asyncio.create_task(self.accounts.refresh(), name="organizations-first")
        try:
            await asyncio.wait_for(asyncio.shield(listing), FIRST_LISTING_WAIT_S)
        except TimeoutError:
            log.warning(
                "AWS Organizations is still being listed after %.0f s; its accounts join "
                "when the listing completes",
                FIRST_LISTING_WAIT_S,
            )
            self._tasks.append(listing)

    async def connected(self) -> bool:
        return bool(self.handler and await self.handler.client.is_connected())

    async def stop(self, grace: float = 20.0, *, close_clients: bool = True) -> None:
        """Stop taking work, finish what is in flight, then close the socket (and clients)."""
        self._stopping.set()
        if self.handler is not None:
            await self.handler.disconnect_async()
        if not await self.inflight.wait_idle(grace):
            log.warning("%d listener(s) still running after %.0f s", self.inflight.count, grace)
        tasks = [*self._tasks, *([self._reconciling] if self._reconciling else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.handler is not None:
            await self.handler.close_async()
        await self._http.close()
        if self._health_file:
            self.health = replace(self.health, connected=False)
            await asyncio.to_thread(write_health, self._health_file, self.health)
        if close_clients:
            await self._clients.close()

    async def _sweep_loop(self) -> None:
        sweeps = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                async with self.inflight.track():
                    report = await self.service.sweep()
                if sweeps % RECONCILE_EVERY == 0:
                    self._start_reconcile()
                sweeps += 1
                self._swept(started, ok=True, store_problem=None)
                if report.eventful:
                    log.info("sweep: %s", report)
            except StoreUnavailable as error:
                table = f"DynamoDB table {self._config().dynamodb_table}"
                problem = explain(error, action="dynamodb:Query", resource=table)
                self._swept(started, ok=False, store_problem=problem)
                log.warning("sweep failed: %s; retrying at the next interval", problem)
            except Exception:
                self._swept(started, ok=False, store_problem=self.health.store_problem)
                log.exception("sweep failed; retrying at the next interval")
            interval = self._sweep_interval or self._config().sweep_interval_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def _review_loop(self) -> None:
        """Usage reviews beside the sweeper, not in it: reading CloudTrail can take minutes
        (2 LookupEvents a second) and must not hold up expiries."""
        while not self._stopping.is_set():
            try:
                await self.usage_reviews.run(self._clock())
            except Exception:
                log.exception("usage reviews failed; retrying at the next interval")
            interval = self._sweep_interval or self._config().sweep_interval_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def _record_review(
        self, request: AccessRequest, review: RightSizing | None, details: dict[str, Any]
    ) -> bool:
        """Record a review and tell the requester as one piece of work that stop() waits for."""
        async with self.inflight.track():
            return await self.service.record_usage_review(request, review, details)

    def _swept(self, started: float, *, ok: bool, store_problem: str | None) -> None:
        """Record one sweep's outcome for metrics and the health file."""
        self.metrics.swept(time.monotonic() - started, ok=ok)
        self.health = replace(
            self.health,
            last_sweep_at=utcnow() if ok else self.health.last_sweep_at,
            store_problem=store_problem,
        )

    def _start_reconcile(self) -> None:
        """Reconcile in the background (a pass over thousands of accounts takes minutes, and
        expiries must not wait for it); one pass at a time."""
        if self._reconciling is not None and not self._reconciling.done():
            return
        now = time.monotonic()
        every = now >= self._reconcile_all_at
        if every:
            self._reconcile_all_at = now + RECONCILE_ALL_EVERY_S

        async def run() -> None:
            async with self.inflight.track():
                try:
                    await self.reconcile(every_account=every)
                except Exception:
                    log.exception("reconcile failed; retrying at the next pass")

        self._reconciling = asyncio.create_task(run(), name="reconcile")

    async def _reconcile_scope(self, config: BotConfig) -> set[str] | None:
        if config.organizations is None:
            return None
        requested = await recently_requested(self.store, self._clock(), RECENT_REQUESTS)
        return frequent_scope(config, self.accounts.file_config(), requested)

    async def reconcile(self, *, every_account: bool = True) -> int:
        """Remove bot grants IAM still holds but no live request accounts for; audit each.
        ``every_account=False``: only the accounts ``_reconcile_scope`` names."""
        config = self._config()
        report = await reconcile(
            self._clients,
            config,
            self.store,
            now=self._clock(),
            locks=self._locks,
            lease=self._lease,
            accounts=None if every_account else await self._reconcile_scope(config),
        )
        for problem in report.errors:
            log.warning("reconcile: %s", problem)
        for removed in report.removed:
            log.warning(
                "reconcile removed %s from %s in %s: %s",
                removed.policy_name,
                removed.role,
                removed.account_id,
                removed.reason,
            )
            await self.service.record_reconciled(
                removed.request_id,
                {
                    "account_id": removed.account_id,
                    "role": removed.role,
                    "policy_name": removed.policy_name,
                    "reason": removed.reason,
                },
            )
        return len(report.removed)

    async def _health_loop(self) -> None:
        assert self._health_file is not None
        while not self._stopping.is_set():
            self.health = replace(self.health, connected=await self.connected())
            await asyncio.to_thread(write_health, self._health_file, self.health)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 5)


#: A policy whose lint loads parliament and its IAM data, as the first grant would.
_WARM_UP_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}],
}


#: Generation-1 collections between two full ones (CPython's default is 10).
FULL_COLLECTION_EVERY = 100


def settle_memory() -> None:
    """Load the data every request needs, hide it from the garbage collector, and make full
    collections rarer.

    The IAM catalog and parliament's data are hundreds of thousands of objects that live as
    long as the process. Each full collection walked them all, and one ran every few seconds
    under load: measured in the benchmark, collections of 14 to 240 ms, each a stall of every
    Slack ack in flight. Loaded before the first request and frozen (``gc.freeze``), they are
    no longer walked. What is left still stalls: under the benchmark's load the bot holds
    60–80k objects of work in flight, and with the default thresholds a full collection (all
    of them, every ~70k allocations) ran every few seconds, one at a time blocking every ack.
    Frozen data no longer counts towards CPython's "long-lived objects grew by 25%" guard, so
    only the threshold spaces them: ten times wider here. Young collections are unchanged, so
    cyclic garbage is still freed early. For the ``run`` process only: a test process would
    freeze its garbage.
    """
    lint_policy(_WARM_UP_POLICY)
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def metrics_from(settings: Settings) -> Recorder:
    """EMF lines on stdout unless METRICS_EMF=false; a Prometheus endpoint if METRICS_PORT."""
    sinks: list[Sink] = [EmfSink()] if settings.metrics_emf else []
    if settings.metrics_port:
        prometheus = PrometheusSink()
        prometheus.serve(settings.metrics_port)
        log.info("Prometheus metrics on port %d", settings.metrics_port)
        sinks.append(prometheus)
    return Recorder(*sinks)


async def run_bot(settings: Settings) -> int:
    """``cloud-access-bot run``: check, connect, serve until SIGTERM/SIGINT, shut down."""
    clients = AwsClients(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    source = config_source_from(settings, client_factory=lambda: clients.client("s3"))
    try:
        await source.load()
    except ConfigError as error:
        for problem in error.problems:
            log.error("%s: %s", error.source, problem)
        await clients.close()
        return 2
    assert settings.slack_app_token is not None and settings.slack_bot_token is not None
    app_token = settings.slack_app_token.get_secret_value()
    runtime = BotRuntime(
        slack=SlackConnection(
            app_token=app_token,
            bot_token=settings.slack_bot_token.get_secret_value(),
            api_url=settings.slack_api_url,
        ),
        config=lambda: source.current,
        clients=clients,
        health_file=str(settings.health_file),
        metrics=metrics_from(settings),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await preflight(
            client=runtime.client,
            api_url=settings.slack_api_url,
            app_token=app_token,
            source=source,
            clients=clients,
            store=runtime.store,
            directory=runtime.directory,
        )
        settle_memory()
        await runtime.start()
        await check_discovered_roles(clients, runtime.accounts.config(), source.current)
    except (StartupFailed, TimeoutError, OSError, aiohttp.ClientError) as error:
        reason = str(error) if isinstance(error, StartupFailed) else repr(error)
        log.error("cannot start: %s", reason)
        await runtime.stop(grace=0)
        return 1
    watcher = asyncio.create_task(source.watch(stop, settings.config_poll_seconds))
    await stop.wait()
    log.info("shutting down: finishing in-flight work")
    await runtime.stop()
    await watcher
    return 0
