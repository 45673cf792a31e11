"""Organisation scale: 5,000 accounts in 50 OUs from moto's Organizations.

Measures answering the account picker's options (as its listener does, in this process),
evaluating the rules for one account, the memory the accounts cost, and refreshes of the
organisation with a per-call latency added by the fault proxy: the first listing (every
account's tags: the rules below match on tags), a periodic one after it (the tree again, the
tags of the stalest share), one without tags, plus moto's own cost per call.
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bench.process import rss_mb
from bench.report import Metric, percentile, rounded
from cloud_access_bot.accounts_source import AccountsSource
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.discovery import DISCOVERERS, ResourceDiscovery
from cloud_access_bot.aws.organizations import organization_directory
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import BotConfig
from cloud_access_bot.config_rules import effective, evaluate
from cloud_access_bot.domain.accounts import OrgAccount, OrgSnapshot
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import AccessRequest, utcnow
from cloud_access_bot.domain.routing import route
from cloud_access_bot.slack.account_picker import AccountIndex
from cloud_access_bot.slack.directory import SlackDirectory
from cloud_access_bot.slack.keystrokes import AccountKeystrokes
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.organizations import READER_ROLE, SeedAccount, seed_organization
from cloud_access_bot_sandbox.scenario import Sandbox, sandbox, sandbox_config


@dataclass(frozen=True)
class OrgScale:
    accounts: int
    units: int
    queries: int
    call_delay_s: float  # added to every Organizations call for the refresh figure
    discovery_runs: int = 5  # timed discoveries in one account, each side


#: Thirteen rules of the kinds the docs describe (ten on accounts, three on what is asked), so
#: evaluation matches a realistic file.
RULES: list[dict[str, Any]] = [
    {"match": {"ou": "/Workloads"}, "set": {"approvals_required": 1}},
    {"match": {"ou": "/Workloads/Prod*"}, "set": {"production": True, "approvals_required": 2}},
    {"match": {"tags": {"env": "prod"}}, "set": {"max_duration_minutes": 60}},
    {"match": {"tags": {"env": "dev"}}, "set": {"max_duration_minutes": 480}},
    {"match": {"name": "*-data-*"}, "set": {"warning": "Customer data"}},
    {"match": {"tags": {"team": "payments"}}, "set": {"approval_groups": ["payments-leads"]}},
    {
        "match": {"ou": "/Workloads/Prod*", "tags": {"pci": "yes"}},
        "set": {"ticket_pattern": "^CHG-\\d+$"},
    },
    {"match": {"ou": "/Sandbox"}, "set": {"regions": ["eu-west-1"]}},
    {"match": {"name": "legacy-*"}, "exclude": True},
    {
        "match": {"tags": {"tier": "gold"}},
        "set": {"eligibility": {"email_domains": ["example.com"]}},
    },
    {
        "description": "Write in production",
        "match": {"ou": "/Workloads/Prod*", "access_levels": ["Write", "Permissions management"]},
        "set": {"approvals_required": 2, "approval_groups": ["sre"]},
    },
    {
        "description": "List/Read in dev",
        "match": {"tags": {"env": "dev"}, "access_levels": ["List", "Read"]},
        "set": {"auto_approve": True},
    },
    {
        "description": "Deletes anywhere",
        "match": {"actions": ["s3:Delete*", "dynamodb:Delete*"]},
        "set": {"approvals_required": 2, "max_duration_minutes": 60},
    },
]

#: What the request being routed asks for: reads, a write and a wildcard.
ASKED = ("s3:GetObject", "s3:ListBucket", "s3:PutObject", "dynamodb:Get*")


def tree(scale: OrgScale) -> list[SeedAccount]:
    per_unit = scale.accounts // scale.units
    teams = ("payments", "search", "data", "platform", "identity")
    return [
        SeedAccount(
            f"{teams[u % 5]}-{'data' if n % 7 == 0 else 'svc'}-{u:02d}-{n:03d}",
            f"/Workloads/{'Prod' if u % 2 else 'Dev'}{u:02d}",
            {
                "env": "prod" if u % 2 else "dev",
                "team": teams[u % 5],
                "pci": "yes" if n % 3 else "no",
            },
        )
        for u in range(scale.units)
        for n in range(per_unit)
    ]


def org_config(rules: list[dict[str, Any]] = RULES, **organizations: Any) -> BotConfig:
    return sandbox_config(
        organizations={
            "iam_role": READER_ROLE,
            "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            **organizations,
        },
        rules=rules,
    )


@dataclass(frozen=True)
class Refresh:
    seconds: float
    calls: int
    snapshot: OrgSnapshot


async def refresh(
    config: BotConfig, delay_s: float, previous: OrgSnapshot | None = None
) -> Refresh:
    """One listing as the bot does it, through the fault proxy with every Organizations call
    delayed by ``delay_s``, after ``previous`` (a periodic refresh) or as the first; counts the
    calls."""
    proxy = AwsFaultProxy(os.environ["AWS_ENDPOINT_URL"])
    await proxy.start()
    if delay_s:
        proxy.inject("delay", "organizations", times=None, seconds=delay_s)
    clients = AwsClients(region="us-east-1", endpoint_url=proxy.endpoint)
    try:
        source = AccountsSource(lambda: config, lambda file: organization_directory(clients, file))
        source.snapshot = previous
        started = time.monotonic()
        if not await source.refresh():
            raise RuntimeError("the organisation could not be listed through the proxy")
        seconds = time.monotonic() - started
        assert source.snapshot is not None
        return Refresh(seconds, len(proxy.calls_to("organizations")), source.snapshot)
    finally:
        await clients.close()
        await proxy.stop()


def evaluation_ms(config: BotConfig, snapshot: OrgSnapshot) -> float:
    """p99 of evaluating every rule for one account and routing one request in it by what it
    asks (what a request for it costs; the rules of all accounts are built once per
    configuration, ``BotConfig.rules_in_force``). Timed in this thread's CPU time: on a shared
    machine the wall-clock p99 of a sub-millisecond call measures the scheduler's time slices
    (a preempted sample reads 5-10 ms), not the rules."""
    in_force = effective(config, snapshot).config
    level_of = Catalog.default().access_level
    samples = []
    for account in random.Random(7).sample(snapshot.accounts, min(2000, len(snapshot.accounts))):
        started = time.thread_time()
        evaluated = evaluate(config, account.name, explicit=None, discovered=account)
        if evaluated.account is not None:
            route(in_force.rules_for(account.name), ASKED, None, level_of)
        samples.append((time.thread_time() - started) * 1000)
    return percentile(samples, 0.99)


def rss_growth_mb(snapshot: OrgSnapshot) -> float:
    """Memory the discovered accounts add: VmRSS of a fresh process holding the effective
    configuration and the picker index over them, minus that of one holding only the two
    file accounts (each process measured after building, collected)."""
    return _child_rss_mb(snapshot) - _child_rss_mb(None)


def _child_rss_mb(snapshot: OrgSnapshot | None) -> float:
    listed = (
        [(a.account_id, a.name, a.ou_path, dict(a.tags)) for a in snapshot.accounts]
        if snapshot
        else None
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, bench.organizations as o; print(o.held_rss_mb(sys.stdin.read()))",
        ],
        input=json.dumps(listed),
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    return float(result.stdout.strip())


def held_rss_mb(listed_json: str) -> float:
    """In the child: build what the bot holds for these accounts, then report VmRSS."""
    import cloud_access_bot.slack.account_picker  # noqa: F401 (loaded in both children)

    listed = json.loads(listed_json)
    snapshot = (
        OrgSnapshot(
            tuple(OrgAccount(i, n, ou, MappingProxyType(tags)) for i, n, ou, tags in listed),
            0.0,
        )
        if listed is not None
        else None
    )
    config = org_config() if snapshot is not None else sandbox_config()
    held = AccountIndex(effective(config, snapshot).config)
    gc.collect()
    size = rss_mb(os.getpid())
    del held
    return size


#: People typing in the account picker, and the modals each opens (one query typed in each).
TYPISTS = 50
#: Requests each typist made before (their recent accounts, read from DynamoDB).
PAST_REQUESTS = 5


@dataclass(frozen=True)
class Keystrokes:
    all_ms: list[float]  # every keystroke's answer
    first_ms: list[float]  # the first keystroke of each modal (its lookups are not recalled)


def typed(query: str) -> list[str]:
    """What Slack asks for while ``query`` is typed into a select with min_query_length 0:
    the empty query when it opens, then one request per character."""
    return [query[:end] for end in range(len(query) + 1)]


async def seed_typists(
    world: Sandbox, store: DynamoStore, names: Sequence[str], count: int
) -> list[str]:
    """``count`` people typing in the benchmark, each in the workspace with ``PAST_REQUESTS``
    requests stored (their recent accounts)."""
    people = []
    for n in range(count):
        person, email = f"U0TYPIST{n:03d}", f"typist{n}@example.com"
        world.emulator.workspace.add_user(person, name=f"typist{n}", email=email)
        for past in range(PAST_REQUESTS):
            account = names[(n * PAST_REQUESTS + past) % len(names)]
            request = AccessRequest(
                id=f"{n:06d}{past:06d}",
                requester_id=person,
                requester_email=email,
                account_name=account,
                account_id="123456789012",
                login_role="Developer",
                reason="Benchmark: a past request",
                duration_minutes=60,
                services=(),
                created_at=utcnow(),
            )
            await store.create(request, person, {})
        people.append(person)
    return people


async def options_ms(config: BotConfig, snapshot: OrgSnapshot, queries: int) -> Keystrokes:
    """Time of answering each account-picker keystroke as the listener does
    (``AccountKeystrokes``: the person's recent requests from DynamoDB and their eligibility
    through the Slack directory on a modal's first keystroke, then the search), in this
    process, against moto and the Slack emulator. ``queries`` modals, each a person typing
    one query (an id, a name, an OU, a tag, or nothing) a character at a time.

    Not over Socket Mode: a running bot reconciles every account on its first sweep, which
    for 5,000 accounts keeps it (and moto, which answers one call at a time) busy for many
    minutes (see the report); the Socket Mode transport adds the few milliseconds that
    ``options_latency_p99_ms`` already measures."""
    current = effective(config, snapshot).config
    async with sandbox(config=current, start=False) as world:
        store = DynamoStore(world.clients, "bench-organizations")
        await store.ensure_table()
        people = await seed_typists(world, store, sorted(current.accounts), min(TYPISTS, queries))
        client = AsyncWebClient(token=world.emulator.bot_token, base_url=world.emulator.api_url)
        answers = AccountKeystrokes(lambda: current, store.for_user, SlackDirectory(client))
        picked = random.Random(11).sample(snapshot.accounts, queries)
        every, first = [], []
        for index, account in enumerate(picked):
            query = (
                account.account_id,
                account.name,
                account.ou_path.rsplit("/", 1)[-1].lower(),
                f"team={account.tags['team']}",
                "",
            )[index % 5]
            person, view_id = people[index % len(people)], f"VBENCH{index:04d}"
            for keystroke, text in enumerate(typed(query)):
                started = time.perf_counter()
                answer = await answers.answer(person, view_id, text)
                elapsed = (time.perf_counter() - started) * 1000
                every.append(elapsed)
                if keystroke == 0:
                    first.append(elapsed)
            if not (answer.get("options") or answer.get("option_groups")):
                raise RuntimeError(f"no account found for {query!r}")
        return Keystrokes(every, first)


async def one_account_discovery_ms(config: BotConfig, delay_s: float, runs: int) -> float:
    """Median of a cold discovery of every service in the ``development`` account's regions,
    the account and regions looked up in ``config`` as a request's modal does; fresh clients
    and cache each run, after one untimed run (moto builds an account's backends on first use),
    every AWS call delayed ``delay_s`` through discovery's own hook."""
    account = config.accounts["development"]
    pairs = [(account.account_number, account.iam_role)]
    samples = []
    for run in range(runs + 1):
        clients = AwsClients(region="eu-west-1")
        discovery = ResourceDiscovery(clients, call_delay=delay_s)
        try:
            started = time.perf_counter()
            await discovery.discover(pairs, config.regions_for("development"), list(DISCOVERERS))
            if run:
                samples.append((time.perf_counter() - started) * 1000)
        finally:
            await clients.close()
    return statistics.median(samples)


async def measure(scale: OrgScale, facts: dict[str, Any]) -> list[Metric]:
    config = org_config()
    # Discovery in one account with only the two file accounts, before the organisation
    # exists (moto, too, then knows two accounts); again below with 5,000.
    discovery_before = await one_account_discovery_ms(
        sandbox_config(), scale.call_delay_s, scale.discovery_runs
    )
    seed_started = time.monotonic()
    clients = AwsClients(region="us-east-1")
    try:
        await seed_organization(clients, tree(scale))
    finally:
        await clients.close()
    facts["organizations_seed_s"] = round(time.monotonic() - seed_started, 1)
    # moto's own cost per call: the same listing with nothing added, every call waiting its
    # turn in moto (which answers one request at a time).
    bare = await refresh(config, 0.0)
    facts["organizations_moto_ms_per_call"] = round(bare.seconds / bare.calls * 1000, 2)
    tagged = await refresh(config, scale.call_delay_s)
    warm = await refresh(config, scale.call_delay_s, tagged.snapshot)
    without_tags = [rule for rule in RULES if "tags" not in rule["match"]]
    untagged = await refresh(org_config(without_tags, read_tags=False), scale.call_delay_s)
    snapshot = tagged.snapshot
    facts["organizations_accounts"] = len(snapshot.accounts)
    facts["organizations_call_delay_ms"] = scale.call_delay_s * 1000
    facts["organizations_calls_with_tags"] = tagged.calls
    facts["organizations_calls_warm"] = warm.calls
    facts["organizations_calls_without_tags"] = untagged.calls
    assert config.organizations is not None
    facts["organizations_concurrency"] = config.organizations.concurrency
    keystrokes = await options_ms(config, snapshot, scale.queries)
    facts["organizations_keystrokes"] = len(keystrokes.all_ms)
    facts["organizations_first_keystroke_p99_ms"] = rounded(percentile(keystrokes.first_ms, 0.99))
    current = effective(config, snapshot).config
    discovery_with_org = await one_account_discovery_ms(
        current, scale.call_delay_s, scale.discovery_runs
    )
    # The two file accounts again, moto now holding the organisation: what moto's own cost
    # adds, apart from the bot's configuration of 5,000 accounts.
    facts["organizations_discovery_two_accounts_after_seeding_ms"] = rounded(
        await one_account_discovery_ms(sandbox_config(), scale.call_delay_s, scale.discovery_runs)
    )
    return [
        Metric(
            "org_account_options_p99_ms",
            rounded(percentile(keystrokes.all_ms, 0.99)),
            "ms",
            target="< 100 ms",
            note=f"{len(keystrokes.all_ms):,} keystrokes in {scale.queries} modals; the first "
            f"of each (nothing recalled yet): p99 {percentile(keystrokes.first_ms, 0.99):.1f} ms",
        ),
        Metric(
            "org_rules_evaluation_p99_ms",
            rounded(evaluation_ms(config, snapshot)),
            "ms",
            target="< 5 ms",
        ),
        Metric("org_rss_growth_mb", rounded(rss_growth_mb(snapshot)), "MB", target="< 50 MB"),
        Metric(
            "org_refresh_s",
            rounded(tagged.seconds),
            "s",
            note="the first listing: the tree and every account's tags",
        ),
        Metric(
            "org_refresh_warm_s",
            rounded(warm.seconds),
            "s",
            target="< 30 s",
            note="a periodic refresh after the first: the tree and the stalest share of the tags",
        ),
        Metric("org_refresh_without_tags_s", rounded(untagged.seconds), "s"),
        Metric(
            "org_discovery_one_account_ms",
            rounded(discovery_with_org),
            "ms",
            baseline=rounded(discovery_before),
            target="≈ baseline (2 accounts)",
            note="discovery for a request in one account with 5,000 accounts; baseline: with 2",
        ),
    ]
