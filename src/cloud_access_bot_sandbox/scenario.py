"""A whole local world: the Slack emulator, seeded moto accounts and the real bot between them.

Used by ``demo``, the end-to-end tests and the benchmarks, so all three exercise exactly the
same wiring as production (``BotRuntime``), with only the two edges replaced by emulators.
AWS is whatever ``AWS_ENDPOINT_URL`` points at (moto's server); Slack is the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest, Status, utcnow
from cloud_access_bot.runtime import BotRuntime, SlackConnection
from cloud_access_bot.slack import schedule_views, views
from cloud_access_bot_sandbox.aws import SeededAccount, seed_account
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator
from cloud_access_bot_sandbox.slack_people import ViewHandle
from cloud_access_bot_sandbox.slack_workspace import Message

REQUESTER = "U0ALICE"
APPROVERS = ("U0BOB", "U0CAROL")
OUTSIDER = "U0MALLORY"
LOGIN_ROLE = "SSO-Devops"

ACCOUNTS = {
    "development": "111111111111",
    "production": "222222222222",
}


#: A pause before each step of a simulated person (``Sandbox.request``).
Think = Callable[[], Awaitable[None]]


async def no_pause() -> None:
    """No pause: a simulated person who acts as fast as the bot answers."""


def sandbox_config(**overrides: Any) -> BotConfig:
    """The demo's configuration: perkbox's keys plus a 1-minute duration and a fast sweeper."""
    data: dict[str, Any] = {
        "loginRoles": [LOGIN_ROLE],
        "approvalGroups": ["devops"],
        "regions": ["eu-west-1", "eu-west-2"],
        "accounts": {
            name: {
                "account_number": number,
                "iam_role": f"arn:aws:iam::{number}:role/cloud-access-bot",
                "account_alias": f"acme-{name}",
            }
            for name, number in ACCOUNTS.items()
        },
        "dynamoDbTable": "cloud_access_bot",
        "request_command": "request",
        "create_table": True,
        "durations_minutes": [1, 15, 60],
        "sweep_interval_seconds": 1,
    }
    data.update(overrides)
    return BotConfig.model_validate(data)


class ManualClock:
    """Real time plus an offset the tests can move forward (to see expiry without waiting)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@dataclass
class Sandbox:
    emulator: SlackEmulator
    clients: AwsClients
    accounts: dict[str, SeededAccount]
    config: BotConfig
    clock: Callable[[], datetime]
    runtimes: list[BotRuntime] = field(default_factory=list)
    #: Extra BotRuntime arguments for the next start_bot (e.g. ping_interval, discovery).
    runtime_options: dict[str, Any] = field(default_factory=dict)
    #: Per user, the ids of their requests stored before their last submission: the modal's
    #: ack comes before the request is stored, so ``latest_request`` waits for a new one.
    _before: dict[str, set[str]] = field(default_factory=dict)

    @property
    def runtime(self) -> BotRuntime:
        return self.runtimes[-1]

    @property
    def store(self) -> DynamoStore:
        """The bot's table, read directly: also when the bot runs as a separate process."""
        return DynamoStore(self.clients, self.config.dynamodb_table)

    async def start_bot(self) -> BotRuntime:
        """Start one more bot instance (a restart is stop_bot then start_bot)."""
        runtime = BotRuntime(
            slack=SlackConnection(
                app_token=self.emulator.app_token,
                bot_token=self.emulator.bot_token,
                api_url=self.emulator.api_url,
            ),
            config=lambda: self.config,
            clients=self.clients,
            clock=self.clock,
            **self.runtime_options,
        )
        opened = self.emulator.connections_opened
        await runtime.start()
        await self.emulator.wait_connected(total=opened + 1)
        self.runtimes.append(runtime)
        return runtime

    async def stop_bot(self, runtime: BotRuntime | None = None) -> None:
        runtime = runtime or self.runtime
        await runtime.stop(grace=5, close_clients=False)
        self.runtimes.remove(runtime)

    async def request(
        self,
        *,
        user: str = REQUESTER,
        account: str = "development",
        service: str = "s3",
        service_query: str | None = None,
        actions: Sequence[str] = ("s3:GetObject",),
        resources: Sequence[str] = (),
        arns: Sequence[str] = (),
        duration: int = 1,
        reason: str = "Investigate a failed export",
        login_role: str | None = LOGIN_ROLE,
        more_services: Sequence[dict[str, Any]] = (),
        think: Think = no_pause,
        start: datetime | None = None,
        also_accounts: Sequence[str | dict[str, Any]] = (),
        ticket: str | None = None,
    ) -> dict[str, Any]:
        """Fill and submit the /request modal as a person would; returns the submit ack.

        ``resources`` are searched in the resource picker by name and picked; ``arns`` are
        typed into the free-text field. ``think`` is awaited before every step (a person's
        pause; none by default). ``start`` is picked in "Start at" (none: left empty).
        ``also_accounts`` are searched and picked in "Also in these accounts" (a request over
        several accounts); ``ticket`` is typed into the ticket input.
        """
        emulator = self.emulator
        self._before[user] = {r.id for r in await self.store.for_user(user, limit=50)}
        await think()
        previous = emulator.top_view(user)
        await emulator.slash_command(user, f"/{self.config.request_command}")
        modal = await emulator.wait_for_view(user, views.REQUEST_CALLBACK, other_than=previous)
        await think()
        await modal.fill(views.REASON_ACTION, reason)
        await think()
        await modal.select(views.DURATION_ACTION, str(duration))
        if start is not None:
            await modal.select(schedule_views.START_ACTION, int(start.timestamp()))
        await think()
        await modal.suggest(views.ACCOUNT_ACTION, account)
        await modal.select(views.ACCOUNT_ACTION, account)
        await modal.wait_updated()
        if login_role:  # None: an account whose modal has no login role
            await think()
            await modal.select(views.LOGIN_ROLE_ACTION, login_role)
        also: list[str | dict[str, Any]] = []
        for name in also_accounts:
            await think()
            if isinstance(name, dict):  # a forged option, sent as it is
                also.append(name)
                continue
            answer = await modal.suggest(views.ALSO_ACCOUNTS_ACTION, name)
            also.append(_option(answer, value=name))
        if also:
            await modal.select_many(views.ALSO_ACCOUNTS_ACTION, also)
            await modal.wait_updated()  # their banners (and a ticket input) show
        await self._fill_service(modal, service, service_query, actions, resources, arns, think)
        for extra in more_services:
            await think()
            await modal.click(views.ADD_SERVICE_ACTION)
            await modal.wait_updated()
            await self._fill_service(
                modal,
                extra["service"],
                None,
                extra.get("actions", ()),
                extra.get("resources", ()),
                extra.get("arns", ()),
                think,
            )
        if ticket is not None:
            await modal.fill(views.TICKET_ACTION, ticket)
        await think()
        return await modal.submit()

    async def submit(self, *, user: str = REQUESTER, **fields: Any) -> AccessRequest:
        """Fill and submit the modal (``request``'s fields) and return the request it stored,
        never the user's previous one; fails if the modal refused the submission."""
        before = await self.runtime.store.for_user(user, limit=1)
        ack = await self.request(user=user, **fields)
        if ack.get("response_action") == "errors":
            raise AssertionError(f"the modal refused the submission: {ack['errors']}")
        return await self.latest_request(user, after=before[0].id if before else None)

    @staticmethod
    async def _fill_service(
        modal: ViewHandle,
        service: str,
        query: str | None,
        actions: Sequence[str],
        resources: Sequence[str],
        arns: Sequence[str],
        think: Think,
    ) -> None:
        """Pick a service, then its actions and resources, as a person would."""
        await think()
        await modal.suggest(views.SERVICE_ACTION, query or service)
        await think()
        await modal.select(views.SERVICE_ACTION, service)
        await modal.wait_updated()
        picked_actions: list[str | dict[str, Any]] = []
        for action in actions:
            await think()
            answer = await modal.suggest(views.ACTIONS_ACTION, action.split(":", 1)[-1])
            picked_actions.append(_option(answer, value=action))
        if picked_actions:
            await modal.select_many(views.ACTIONS_ACTION, picked_actions)
        picked: list[str | dict[str, Any]] = []
        for name in resources:
            await think()
            answer = await modal.suggest(views.RESOURCES_ACTION, name)
            picked.append(_option(answer, text=name))
        if picked:
            await modal.select_many(views.RESOURCES_ACTION, picked)
        if arns:
            await think()
            await modal.fill(views.ARNS_ACTION, "\n".join(arns))

    async def latest_request(
        self, user: str = REQUESTER, *, after: str | None = None
    ) -> AccessRequest:
        """The user's newest stored request, waiting until one exists (and, after ``request``,
        until the one it submitted is stored). ``after``: the id of the newest before a
        submission; waits until a newer one is stored, for a submission is acked before its
        request is written (without it, the older request comes back)."""
        store = self.store
        before = self._before.get(user, set())

        async def newest() -> AccessRequest | None:
            found = await store.for_user(user, limit=1)
            newer = found and found[0].id not in before and found[0].id != after
            return found[0] if newer else None

        return await self.wait_for(newest, "a stored request")

    async def wait_for_status(
        self, request_id: str, *statuses: Status, timeout: float = 10.0
    ) -> AccessRequest:
        store = self.store

        async def reached() -> AccessRequest | None:
            request = await store.get(request_id)
            return request if request and request.status in statuses else None

        return await self.wait_for(reached, f"{request_id} to be {statuses}", timeout)

    async def wait_for(self, probe: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                found = await probe()
                if found:
                    return found
                await asyncio.sleep(0.05)
        raise AssertionError(what)  # pragma: no cover - asyncio.timeout raises first

    async def approval_dm(self, approver: str, request_id: str) -> Message:
        return await self.emulator.wait_for_message(
            approver, lambda m: request_id in m.flat_text and "Approve" in m.flat_text
        )

    async def click(self, user: str, message: Message, action_id: str) -> dict[str, Any]:
        return await self.emulator.click(user, message, action_id)


def _option(answer: dict[str, Any], *, value: str = "", text: str = "") -> dict[str, Any]:
    """The suggested option (flat or grouped) with ``value``, or whose text contains ``text``."""
    options = list(answer.get("options", []))
    for group in answer.get("option_groups", []):
        options.extend(group["options"])
    return next(
        o
        for o in options
        if (value and o["value"] == value) or (text and text in o["text"]["text"])
    )


def seed_workspace(emulator: SlackEmulator) -> None:
    workspace = emulator.workspace
    workspace.add_user(REQUESTER, name="alice", email="alice@example.com")
    workspace.add_user(APPROVERS[0], name="bob", email="bob@example.com")
    workspace.add_user(APPROVERS[1], name="carol", email="carol@example.com")
    workspace.add_user(OUTSIDER, name="mallory", email="mallory@example.com")
    workspace.add_usergroup("devops", list(APPROVERS), name="DevOps")


async def seed_accounts(clients: AwsClients) -> dict[str, SeededAccount]:
    seeded = await asyncio.gather(
        *(
            seed_account(
                clients,
                name=name,
                account_id=number,
                login_role=LOGIN_ROLE,
                buckets=(f"acme-{name}-exports", f"acme-{name}-logs"),
                tables=(("eu-west-1", f"{name}-orders"), ("eu-west-2", f"{name}-invoices")),
            )
            for name, number in ACCOUNTS.items()
        )
    )
    return {account.name: account for account in seeded}


@contextlib.asynccontextmanager
async def sandbox(
    *, config: BotConfig | None = None, clock: Callable[[], datetime] = utcnow, start: bool = True
) -> AsyncIterator[Sandbox]:
    """Emulator + seeded accounts (+ one running bot unless ``start`` is False)."""
    clients = AwsClients(region="eu-west-1")
    emulator = SlackEmulator()
    await emulator.start()
    world = Sandbox(
        emulator=emulator,
        clients=clients,
        accounts={},
        config=config or sandbox_config(),
        clock=clock,
    )
    try:
        seed_workspace(emulator)
        world.accounts = await seed_accounts(clients)
        if start:
            await world.start_bot()
        yield world
    finally:
        for runtime in list(world.runtimes):
            await world.stop_bot(runtime)
        await emulator.stop()
        await clients.close()
