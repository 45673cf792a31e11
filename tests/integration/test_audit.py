"""The audit trail against moto: requests scripted through the real service, store and granter.

Three users, two accounts, approved / denied / revoked / expired / still active, across a
month boundary (so the month index is read in two partitions). Times come from one manual
clock shared by the service and the store, so windows and events are exact.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud_access_bot.audit import export
from cloud_access_bot.audit.commands import Shown, answer, configure_parser
from cloud_access_bot.audit.export import LIST_COLUMNS, Row
from cloud_access_bot.audit.queries import ListFilter, list_requests, who_had_access
from cloud_access_bot.audit.slack_text import audit_command_text
from cloud_access_bot.audit.verify import verify_trail
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.granter import InlinePolicyGranter
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.cli import main
from cloud_access_bot.config import AccessMode, BotConfig
from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.approvers import ApproverSpec
from cloud_access_bot.domain.audit import event_hash, verify_chain
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import (
    AccessRequest,
    EventType,
    MessageRef,
    ServiceAccess,
    Status,
)
from cloud_access_bot.domain.people import Person
from cloud_access_bot.ports import DMS_ONLY, Audience
from cloud_access_bot.service import AccessService, Draft
from cloud_access_bot_sandbox.aws import SeededAccount, inline_policies, seed_account
from tests.factories import access_request

T0 = datetime(2027, 3, 31, 23, 0, tzinfo=UTC)  # 2 h before April: both month partitions used
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
VICTOR, WENDY = "U0VICTOR", "U0WENDY"
DEV, PROD = "111111111111", "222222222222"
TABLE = "audit-test"
CONFIG = {
    "loginRoles": ["Developer"],
    "approvalGroups": ["security"],
    "accounts": {
        "development": {
            "account_number": DEV,
            "iam_role": f"arn:aws:iam::{DEV}:role/cloud-access-bot",
        },
        "production": {
            "account_number": PROD,
            "iam_role": f"arn:aws:iam::{PROD}:role/cloud-access-bot",
            "account_alias": "acme-prod",
        },
    },
    "dynamoDbTable": TABLE,
    "durations_minutes": [15, 60],
    "admin_groups": ["security"],
}
TRICKY_REASON = 'fix "ingest", then\nre-run; <@channel> & ünïcode'


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, offset: timedelta) -> None:
        self.now = T0 + offset


class People:
    """Directory and notifier: everyone has an email; the security group approves."""

    async def members_of(self, groups: Sequence[str], *, fresh: bool = False) -> list[str]:
        return [VICTOR, WENDY]

    async def email_of(self, user_id: str) -> str | None:
        return f"{user_id.lower()}@example.com"

    async def is_active(self, user_id: str) -> bool:
        return True

    async def person(self, user_id: str) -> Person | None:
        email = await self.email_of(user_id)
        return Person(user_id=user_id, email=email, guest=False, deactivated=False)

    async def resolve(self, specs: Sequence[ApproverSpec], *, fresh: bool = False) -> list[str]:
        return [VICTOR, WENDY]

    async def channel_id(self, channel: str, *, fresh: bool = False) -> str | None:
        return None

    async def announce(
        self, request: AccessRequest, audience: Audience = DMS_ONLY
    ) -> tuple[list[MessageRef], MessageRef | None]:
        return [], None

    async def announce_to_requester(self, request: AccessRequest) -> MessageRef | None:
        return None

    async def refresh(self, request: AccessRequest, event: EventType, actor: str) -> None:
        return None

    async def tell(self, user_id: str, text: str) -> None:
        raise AssertionError(f"unexpected refusal for {user_id}: {text}")

    async def ask_extension(self, request: AccessRequest, audience: Audience = DMS_ONLY) -> None:
        return None

    async def remind(self, request: AccessRequest, approvers: Sequence[str]) -> None:
        return None

    async def break_glass(self, request: AccessRequest, approver: str, reason: str) -> None:
        raise AssertionError(f"unexpected self-approval of {request.id}")

    async def usage_reviewed(self, request: AccessRequest, review: RightSizing) -> None:
        return None


@dataclass
class World:
    clients: AwsClients
    store: DynamoStore
    config: BotConfig
    clock: Clock
    ids: dict[str, str]
    accounts: dict[str, SeededAccount]
    service: AccessService


def s3(actions: Sequence[str], bucket: str) -> tuple[ServiceAccess, ...]:
    return (ServiceAccess("s3", tuple(actions), (f"arn:aws:s3:::{bucket}",)),)


@pytest.fixture
async def world(clients: AwsClients) -> World:
    clock = Clock()
    config = BotConfig.model_validate(CONFIG)
    store = DynamoStore(clients, TABLE, clock=clock)
    await store.ensure_table()
    seeded = {
        name: await seed_account(
            clients,
            name=name,
            account_id=number,
            login_role="Developer",
            buckets=[bucket],
            tables=[],
        )
        for name, number, bucket in (
            ("development", DEV, "dev-logs"),
            ("production", PROD, "prod-data"),
        )
    }
    people = People()
    service = AccessService(
        config=lambda: config,
        store=store,
        granters={AccessMode.INLINE_POLICY: InlinePolicyGranter(clients, "cloud-access-bot-")},
        directory=people,
        notifier=people,
        access_level=Catalog.default().access_level,
        clock=clock,
    )
    ids: dict[str, str] = {}

    async def submit(
        key: str,
        user: str,
        account: str,
        access: tuple[ServiceAccess, ...],
        duration: int,
        reason: str = "incident 42",
    ) -> str:
        result = await service.submit(Draft(user, account, "Developer", reason, duration, access))
        assert result.request is not None, result.errors
        ids[key] = result.request.id
        return result.request.id

    clock.at(minutes(0))
    r1 = await submit(
        "r1",
        ALICE,
        "development",
        s3(["s3:GetObject", "s3:PutObject"], "dev-logs"),
        60,
        TRICKY_REASON,
    )
    await service.approve(r1, VICTOR)
    clock.at(minutes(5))
    table = f"arn:aws:dynamodb:eu-west-1:{DEV}:table/orders"
    r3 = await submit(
        "r3",
        CAROL,
        "development",
        (ServiceAccess("dynamodb", ("dynamodb:GetItem",), (table,)),),
        15,
    )
    await service.deny(r3, VICTOR, "not during the freeze")
    clock.at(minutes(10))
    r2 = await submit("r2", BOB, "development", s3(["s3:Get*"], "dev-logs"), 60)
    await service.approve(r2, WENDY)
    clock.at(minutes(30))
    await service.revoke(r2, VICTOR)
    clock.at(minutes(90))
    assert (await service.sweep()).expired == 1  # r1, swept 30 minutes after its expiry
    clock.at(minutes(120))
    r4 = await submit("r4", ALICE, "production", s3(["s3:PutObject"], "prod-data"), 15)
    await service.approve(r4, WENDY)
    clock.at(minutes(130))
    r5 = await submit("r5", CAROL, "production", s3(["s3:GetObject"], "prod-data"), 60)
    await service.approve(r5, VICTOR)
    clock.at(minutes(150))
    assert (await service.sweep()).expired == 1  # r4
    found = {k: await store.get(v) for k, v in ids.items()}
    statuses = {k: r.status for k, r in found.items() if r is not None}
    assert statuses == {
        "r1": Status.EXPIRED,
        "r2": Status.REVOKED,
        "r3": Status.DENIED,
        "r4": Status.EXPIRED,
        "r5": Status.ACTIVE,
    }
    return World(clients, store, config, clock, ids, seeded, service)


async def who(
    world: World,
    account: str,
    since: timedelta,
    until: timedelta | None = None,
    query: dict[str, str] | None = None,
    *,
    write: bool = False,
) -> list[str]:
    start = T0 + since
    end = T0 + (until if until is not None else since)
    asked = query or {}
    found = await who_had_access(
        world.store,
        account,
        start,
        end,
        action=asked.get("action"),
        resource=asked.get("resource"),
        write=write,
    )
    names = {v: k for k, v in world.ids.items()}
    return [names[a.request.id] for a in found]


POINTS_IN_DEVELOPMENT: list[tuple[timedelta, dict[str, str], list[str]]] = [
    (minutes(-1), {}, []),
    (minutes(0), {}, ["r1"]),  # exactly at r1's start
    (minutes(5), {}, ["r1"]),  # r3 was denied: never granted
    (minutes(10), {}, ["r1", "r2"]),  # exactly at r2's start
    (minutes(29), {"action": "s3:GetObject"}, ["r1", "r2"]),  # r2's s3:Get* covers it
    (minutes(29), {"action": "s3:PutObject"}, ["r1"]),
    (minutes(29), {"action": "s3:Put*"}, ["r1"]),  # a wildcard question
    (minutes(29), {"action": "s3:*Object"}, ["r1", "r2"]),
    (minutes(29), {"action": "dynamodb:*"}, []),
    (minutes(30), {}, ["r1"]),  # r2 revoked at this moment: its end is exclusive
    (minutes(59) + timedelta(seconds=59), {}, ["r1"]),
    (minutes(60), {}, []),  # r1's expiry, not the sweeper's late EXPIRED event
    (minutes(29), {"resource": "arn:aws:s3:::dev-logs/2027/app.log"}, ["r1", "r2"]),
    (minutes(29), {"resource": "arn:aws:s3:::dev-logs/*"}, ["r1", "r2"]),
    # s3:Get* also granted account-level reads on "*", but no object read elsewhere
    (minutes(29), {"resource": "arn:aws:s3:::other-bucket/x"}, ["r2"]),
    (minutes(29), {"action": "s3:GetObject", "resource": "arn:aws:s3:::other/x"}, []),
    (minutes(29), {"action": "s3:PutObject", "resource": "arn:aws:s3:::dev-logs/a"}, ["r1"]),
]


def row_key(request_id: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"REQ#{request_id}"}, "sk": {"S": sk}}


async def edit_row(world: World, request_id: str, sk: str, name: str, value: str) -> None:
    """Set a string attribute of a stored row behind the store's back."""
    async with world.clients.client("dynamodb") as dynamodb:
        await dynamodb.update_item(
            TableName=TABLE,
            Key=row_key(request_id, sk),
            UpdateExpression=f"SET {name} = :v",
            ExpressionAttributeValues={":v": {"S": value}},
        )


async def delete_row(world: World, request_id: str, sk: str) -> None:
    async with world.clients.client("dynamodb") as dynamodb:
        await dynamodb.delete_item(TableName=TABLE, Key=row_key(request_id, sk))


async def test_who_had_access_in_development(world: World) -> None:
    """One world for every question (building it is the slow part)."""
    answers = [
        (at, query, await who(world, DEV, at, query=query))
        for at, query, _ in POINTS_IN_DEVELOPMENT
    ]
    assert answers == POINTS_IN_DEVELOPMENT


async def test_who_had_access_in_production_and_over_ranges(world: World) -> None:
    assert await who(world, PROD, minutes(125)) == ["r4"]
    assert await who(world, PROD, minutes(135)) == ["r5"]  # r4 ended at 135, exclusive
    assert await who(world, PROD, minutes(100), minutes(200)) == ["r4", "r5"]
    assert await who(world, PROD, minutes(125), minutes(200), {"action": "s3:PutObject"}) == ["r4"]
    assert await who(world, DEV, minutes(40), minutes(65)) == ["r1"]
    assert await who(world, DEV, minutes(-60), minutes(-1)) == []
    assert await who(world, DEV, minutes(60), minutes(300)) == []


async def test_who_had_write_access_goes_by_the_recorded_access_levels(world: World) -> None:
    # r4 was granted s3:PutObject (Write), r5 s3:GetObject (Read) over the same range.
    assert await who(world, PROD, minutes(100), minutes(200), write=True) == ["r4"]
    # r1 had s3:PutObject; r2's s3:Get* covers only Read actions, so r2 never had write access.
    assert await who(world, DEV, minutes(0), minutes(60)) == ["r1", "r2"]
    assert await who(world, DEV, minutes(0), minutes(60), write=True) == ["r1"]


async def test_who_had_access_rows_name_user_grant_and_approver(world: World) -> None:
    found = await who_had_access(
        world.store, DEV, T0 + minutes(20), T0 + minutes(20), action="s3:GetObject"
    )
    rows = {row["request_id"]: row for row in map(export.access_row, found)}
    assert rows[world.ids["r2"]] == {
        "request_id": world.ids["r2"],
        "user": BOB,
        "email": "u0bob@example.com",
        "account": "development",
        "account_id": DEV,
        "starts_at": "2027-03-31T23:10:00Z",
        "ends_at": "2027-03-31T23:30:00Z",
        "ended_by": "REVOKED",
        "actions": ["s3:GetObject"],
        "resources": ["arn:aws:s3:::dev-logs/*"],
        "approved_by": [WENDY],
        "access_levels": ["Read"],
    }
    assert rows[world.ids["r1"]]["ended_by"] == "EXPIRY"


async def test_list_reads_each_filter_from_an_index(world: World) -> None:
    ids = {v: k for k, v in world.ids.items()}

    async def listed(**where: Any) -> list[str]:
        since, until = T0 - timedelta(hours=1), T0 + timedelta(days=1)
        found = await list_requests(world.store, ListFilter(since, until, **where))
        return [ids[r.id] for r in found]

    assert await listed() == ["r1", "r3", "r2", "r4", "r5"]  # March and April partitions
    assert await listed(user=ALICE) == ["r1", "r4"]
    assert await listed(account_id=PROD) == ["r4", "r5"]
    assert await listed(user=CAROL, account_id=DEV) == ["r3"]
    assert await listed(status=Status.REVOKED) == ["r2"]
    assert await listed(approver=WENDY) == ["r2", "r4"]
    assert await listed(approver=VICTOR, status=Status.DENIED) == ["r3"]
    april = await list_requests(world.store, ListFilter(T0 + minutes(60), T0 + minutes(125)))
    assert [ids[r.id] for r in april] == ["r4"]


async def test_show_has_the_attached_policy_and_the_whole_timeline(world: World) -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    shown = await answer(
        parser.parse_args(["show", world.ids["r2"]]),
        store=world.store,
        config=world.config,
        now=world.clock(),
    )
    assert isinstance(shown, Shown)
    body = export.show_json(shown.request, shown.events)
    assert [(e["type"], e["actor"]) for e in body["events"]] == [
        ("REQUESTED", BOB),
        ("APPROVED", WENDY),
        ("GRANTED", WENDY),
        ("REVOKED", VICTOR),
    ]
    assert [e["at"] for e in body["events"]] == [
        "2027-03-31T23:10:00Z",
        "2027-03-31T23:10:00Z",
        "2027-03-31T23:10:00Z",
        "2027-03-31T23:30:00Z",
    ]
    granted = body["events"][2]["details"]["policy_document"]
    # An export carries everything an event's hash covers, so it can be re-verified elsewhere.
    assert (
        verify_chain(
            [
                replace(e, sealed=x["sealed"])
                for e, x in zip(shown.events, body["events"], strict=True)
            ],
            head=shown.request.last_event_hash,
        )
        == []
    )
    assert body["events"][0]["sealed"]["requester_email"]
    assert body["policy_document"] == granted
    statements = granted["Statement"]
    assert all(s["Sid"].startswith(world.ids["r2"]) for s in statements)
    assert "s3:GetObject" in {a for s in statements for a in s["Action"]}
    text = export.show_text(shown.request, shown.events)
    attached = shown.request.policy_document
    assert attached is not None
    assert json.dumps(json.loads(attached), indent=2) in text
    assert "REVOKED" in text and WENDY in text


async def test_show_policy_is_what_iam_held(world: World) -> None:
    r5 = await world.store.get(world.ids["r5"])
    assert r5 is not None and r5.policy_document is not None
    held = await inline_policies(world.clients, world.accounts["production"])
    own = [
        s for document in held.values() for s in document["Statement"] if s["Sid"].startswith(r5.id)
    ]
    assert own == json.loads(r5.policy_document)["Statement"]


async def test_events_carry_the_retention_ttl(world: World) -> None:
    async with world.clients.client("dynamodb") as dynamodb:
        item = (
            await dynamodb.get_item(
                TableName=TABLE,
                Key={"pk": {"S": f"REQ#{world.ids['r1']}"}, "sk": {"S": "EVT#000001"}},
            )
        )["Item"]
    assert int(item["ttl"]["N"]) == int((T0 + timedelta(days=400)).timestamp())


async def test_verify_passes_then_pinpoints_an_edited_event(world: World) -> None:
    now = world.clock()
    untouched = await verify_trail(
        world.store, since=None, until=now, now=now, retention=timedelta(days=400)
    )
    assert untouched.ok and untouched.checked == 5

    r2 = world.ids["r2"]
    await edit_row(world, r2, "EVT#000002", "actor", VICTOR)
    report = await verify_trail(
        world.store, since=T0 - timedelta(days=1), until=now, now=now, retention=timedelta(days=400)
    )
    assert report.checked == 5
    assert {f.request_id for f in report.findings} == {r2}
    problems = [f.problem for f in report.findings]
    assert "event seq 2 was edited (its hash does not match)" in problems


async def test_verify_reports_removed_events_and_edited_requests(world: World) -> None:
    now = world.clock()
    r1, r4 = world.ids["r1"], world.ids["r4"]
    await delete_row(world, r1, "EVT#000002")
    await edit_row(world, r4, "META", "decided_by", ALICE)
    report = await verify_trail(
        world.store, since=None, until=now, now=now, retention=timedelta(days=400)
    )
    found = {(f.request_id, f.problem.split(":")[0]) for f in report.findings}
    assert (r1, "event seq 2 removed") in found
    assert any(rid == r4 and "decided by" in problem for rid, problem in found)
    assert {f.request_id for f in report.findings} == {r1, r4}


async def test_verify_accepts_events_gone_by_retention(world: World) -> None:
    r1 = world.ids["r1"]
    for seq in (1, 2):
        await delete_row(world, r1, f"EVT#{seq:06d}")
    later = T0 + timedelta(days=401)
    retention = timedelta(days=400)
    report = await verify_trail(
        world.store, since=None, until=later, now=later, retention=retention
    )
    assert report.ok
    now = world.clock()
    report = await verify_trail(world.store, since=None, until=now, now=now, retention=retention)
    assert {f.problem for f in report.findings} == {"event seq 1 removed", "event seq 2 removed"}


@pytest.fixture
def cli_env(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    """The CLI finds the table through BOT_CONFIG_FILE, as an operator's shell would."""
    path = tmp_path / "bot.yml"
    path.write_text(yaml.safe_dump(CONFIG))
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_CONFIG_S3_BUCKET", "BOT_CONFIG_S3_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_CONFIG_FILE", str(path))
    return world


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cloud-access-bot audit …`` (it starts its own event loop, so off this one)."""
    code = await asyncio.to_thread(main, ["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


RANGE = ("--since", "2027-03-31T22:00:00Z", "--until", "2027-04-02")


def read_rows(text: str, fmt: str) -> list[Row]:
    """The rows of a JSON or CSV export as a reader of the file gets them back."""
    if fmt == "json":
        loaded: list[Row] = json.loads(text)
        return loaded
    rows: list[Row] = []
    for record in csv.DictReader(io.StringIO(text)):
        rows.append(
            {
                column: (value.split("\n") if value else []) if column in LIST_COLUMNS else value
                for column, value in record.items()
            }
        )
    return rows


async def test_cli_list_exports_round_trip(
    cli_env: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, as_json, _ = await cli(capsys, "list", *RANGE, "--format", "json")
    assert code == 0
    code, as_csv, _ = await cli(capsys, "list", *RANGE, "--format", "csv")
    assert code == 0
    stored = [await cli_env.store.get(cli_env.ids[k]) for k in ("r1", "r3", "r2", "r4", "r5")]
    expected = [export.request_row(r) for r in stored if r is not None]
    assert read_rows(as_json, "json") == expected
    assert read_rows(as_csv, "csv") == expected
    assert expected[0]["reason"] == TRICKY_REASON
    assert expected[0]["approved_by"] == [VICTOR]

    code, table, _ = await cli(capsys, "list", *RANGE, "--account", "acme-prod")
    lines = table.splitlines()
    assert lines[0].startswith("ID ") and len(lines) == 3
    assert lines[0].index("CREATED_AT") == lines[1].index("2027-") == lines[2].index("2027-")


async def test_cli_who_had_access_and_bad_arguments(
    cli_env: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await cli(
        capsys,
        "who-had-access",
        "--account",
        "development",
        "--between",
        "2027-03-31T23:40:00Z",
        "2027-04-01T00:00:00Z",
        "--action",
        "s3:Put*",
        "--format",
        "csv",
    )
    assert code == 0
    rows = read_rows(out, "csv")
    assert [(r["request_id"], r["actions"]) for r in rows] == [
        (cli_env.ids["r1"], ["s3:PutObject"])
    ]

    code, _, err = await cli(capsys, "who-had-access", "--account", "staging")
    assert code == 2
    assert "unknown account 'staging'" in err


async def test_cli_verify_exit_codes(cli_env: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await cli(capsys, "verify")
    assert (code, out.strip()) == (0, "5 request(s) checked, every event chain intact")
    r3 = cli_env.ids["r3"]
    await edit_row(cli_env, r3, "EVT#000002", "details", '{"reason":"approved after all"}')
    code, out, _ = await cli(capsys, "verify")
    assert code == 1
    assert f"request {r3}: event seq 2 was edited (its hash does not match)" in out
    assert out.strip().endswith("5 request(s) checked, 1 problem(s) found")


async def test_slack_answers_are_escaped_and_limited_to_queries(world: World) -> None:
    async def ask(*args: str) -> str:
        return await audit_command_text(
            list(args), store=world.store, config=world.config, now=world.clock()
        )

    text = await ask(
        "who-had-access",
        "--account",
        "development",
        "--at",
        "2027-03-31T23:20:00Z",
        "--action",
        "s3:GetObject",
    )
    assert text.startswith("*2 grant(s)* in account 111111111111 in force at 2027-03-31T23:20:00Z")
    assert world.ids["r1"] in text and world.ids["r2"] in text

    shown = await ask("show", world.ids["r1"])
    assert "&lt;@channel&gt; &amp; ünïcode" in shown
    assert "<@channel>" not in shown

    listed = await ask("list", "--since", "2027-03-31", "--user", f"<@{ALICE}|alice>")
    assert listed.startswith("*2 request(s)*")

    refused = await ask("verify")
    assert "invalid choice: 'verify'" in refused
    assert "no request 0123456789ab" in await ask("show", "0123456789ab")


# -- tampering through boto, as someone with write access to the table would --------------


async def set_attribute(world: World, request_id: str, name: str, value: dict[str, object]) -> None:
    async with world.clients.client("dynamodb") as dynamodb:
        await dynamodb.update_item(
            TableName=TABLE,
            Key=row_key(request_id, "META"),
            UpdateExpression="SET #n = :v",
            ExpressionAttributeNames={"#n": name},
            ExpressionAttributeValues={":v": value},
        )


async def delete_request(world: World, request_id: str) -> None:
    """Delete the request item and every event of it."""
    async with world.clients.client("dynamodb") as dynamodb:
        rows = await dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"REQ#{request_id}"}},
        )
        for row in rows["Items"]:
            await dynamodb.delete_item(TableName=TABLE, Key={"pk": row["pk"], "sk": row["sk"]})


async def granted_anywhere(world: World) -> list[str]:
    names = {v: k for k, v in world.ids.items()}
    found = []
    for account in (DEV, PROD):
        found += await who_had_access(world.store, account, T0, T0 + timedelta(hours=3))
    return sorted(names[a.request.id] for a in found)


async def verify_all(world: World) -> list[tuple[str, str]]:
    now = world.clock()
    report = await verify_trail(
        world.store, since=None, until=now, now=now, retention=timedelta(days=400)
    )
    names = {v: k for k, v in world.ids.items()}
    return sorted((names[f.request_id], f.problem) for f in report.findings)


async def test_verify_names_every_field_who_had_access_relies_on(world: World) -> None:
    """The attack of issue 15: four grants become one in who-had-access, and verify names how."""
    assert await granted_anywhere(world) == ["r1", "r2", "r4", "r5"]
    r1, r2, r4, r5 = (world.ids[k] for k in ("r1", "r2", "r4", "r5"))
    await set_attribute(world, r1, "expires_at", {"S": "2027-03-31T23:00:00.000000Z"})
    await delete_request(world, r2)
    await set_attribute(world, r4, "account_pk", {"S": "ACCOUNT#999999999999"})
    await set_attribute(world, r5, "approvals", {"L": [{"S": ALICE}]})
    await set_attribute(world, r5, "requester_email", {"S": "nobody@example.com"})
    assert await granted_anywhere(world) == ["r5"]

    assert await verify_all(world) == [
        (
            "r1",
            "expires_at says 2027-03-31T23:00:00Z, event seq 3 (GRANTED) granted until "
            "2027-04-01T00:00:00Z: the request item was edited",
        ),
        ("r1", "field expires_at was edited (it differs from what event seq 2 (APPROVED) wrote)"),
        ("r2", "request deleted: the anchor of 2027-03-31 lists it, the table has none"),
        (
            "r4",
            "index key account_pk is 'ACCOUNT#999999999999', the request's own fields give "
            "'ACCOUNT#222222222222': the request item was edited",
        ),
        ("r5", f"approval by {ALICE} has no approving event: the request item was edited"),
        ("r5", "field approvals was edited (it differs from what event seq 2 (APPROVED) wrote)"),
        (
            "r5",
            "field requester_email was edited (it differs from what event seq 1 (REQUESTED) wrote)",
        ),
    ]


async def test_verify_names_fields_removed_added_or_carried_along(world: World) -> None:
    r4, r5 = world.ids["r4"], world.ids["r5"]
    async with world.clients.client("dynamodb") as dynamodb:
        await dynamodb.update_item(
            TableName=TABLE, Key=row_key(r4, "META"), UpdateExpression="REMOVE starts_at"
        )
    await set_attribute(world, r4, "ttl", {"N": "1"})  # DynamoDB would delete the item later
    await set_attribute(world, r5, "starts_at", {"S": "2027-03-31T20:00:00.000000Z"})
    assert await verify_all(world) == [
        ("r4", "field starts_at was removed (last written by event seq 2 (APPROVED))"),
        ("r4", "field ttl was added outside the bot (no event wrote it)"),
        (
            "r4",
            "starts_at says nothing, the policy of event seq 3 (GRANTED) starts at "
            "2027-04-01T01:00:00Z: the request item was edited",
        ),
        ("r5", "field starts_at was edited (it differs from what event seq 2 (APPROVED) wrote)"),
        (
            "r5",
            "starts_at says 2027-03-31T20:00:00Z, the policy of event seq 3 (GRANTED) starts "
            "at 2027-04-01T01:10:00Z: the request item was edited",
        ),
    ]


async def test_a_deleted_anchor_shows_as_unlisted_requests(world: World) -> None:
    r2, r3 = world.ids["r2"], world.ids["r3"]
    async with world.clients.client("dynamodb") as dynamodb:
        for request_id in (r2, r3):
            await dynamodb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "ANCHOR#2027-03"}, "sk": {"S": f"DAY#2027-03-31#{request_id[0]}"}},
                UpdateExpression="DELETE request_ids :id",
                ExpressionAttributeValues={":id": {"SS": [request_id]}},
            )
    unlisted = (
        "not listed in the anchor of 2027-03-31: written outside the bot, or the anchor was edited"
    )
    assert await verify_all(world) == [("r2", unlisted), ("r3", unlisted)]


async def make_unsealed(world: World, request_id: str) -> None:
    """Rewrite a request as the bot wrote it before seals and anchors existed."""
    events = await world.store.events(request_id)
    head = ""
    async with world.clients.client("dynamodb") as dynamodb:
        for event in events:
            old = replace(event, sealed={})
            old = replace(old, prev_hash=head, hash=event_hash(head, old))
            head = old.hash
            await dynamodb.update_item(
                TableName=TABLE,
                Key=row_key(request_id, f"EVT#{event.seq:06d}"),
                UpdateExpression="SET prev_hash = :p, #h = :h REMOVE sealed",
                ExpressionAttributeNames={"#h": "hash"},
                ExpressionAttributeValues={":p": {"S": old.prev_hash}, ":h": {"S": old.hash}},
            )
        await dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "ANCHOR#2027-03"}, "sk": {"S": f"DAY#2027-03-31#{request_id[0]}"}},
            UpdateExpression="DELETE request_ids :id",
            ExpressionAttributeValues={":id": {"SS": [request_id]}},
        )
    await set_attribute(world, request_id, "last_event_hash", {"S": head})


async def test_requests_written_before_seals_verify_and_are_counted(
    cli_env: World, capsys: pytest.CaptureFixture[str]
) -> None:
    r3 = cli_env.ids["r3"]
    await make_unsealed(cli_env, r3)
    async with cli_env.clients.client("dynamodb") as dynamodb:  # older than the month index
        await dynamodb.update_item(
            TableName=TABLE, Key=row_key(r3, "META"), UpdateExpression="REMOVE month_pk, month_sk"
        )
    code, out, _ = await cli(capsys, "verify")
    assert (code, out.strip().splitlines()) == (
        0,
        [
            "5 request(s) checked, every event chain intact",
            "1 request(s) written before seals and anchors: their chain, status, requester, "
            "decider, approvals, policy, window and index keys were checked, other fields and "
            "their deletion cannot be",
        ],
    )
    # The cross-checks still hold for it; an attribute no event sealed cannot be checked.
    await set_attribute(cli_env, r3, "requester_email", {"S": "nobody@example.com"})
    await set_attribute(cli_env, r3, "decided_by", {"S": CAROL})
    code, out, _ = await cli(capsys, "verify")
    assert code == 1
    assert out.splitlines()[:2] == [
        f"request {r3}: request says decided by {CAROL}, event seq 2 (DENIED) by {VICTOR}: "
        "the request item was edited",
        "5 request(s) checked, 1 problem(s) found",
    ]


async def test_an_extended_grant_verifies_and_its_window_is_the_extension(world: World) -> None:
    r5 = world.ids["r5"]  # CAROL's production grant until 01:10 + 60 minutes
    await world.service.ask_extension(r5, CAROL, 15)
    world.clock.at(minutes(155))
    await world.service.decide_extension(r5, WENDY, approve=True)
    assert await who(world, PROD, minutes(195)) == ["r5"]  # past the first expiry (190)
    assert await verify_all(world) == []
    await set_attribute(world, r5, "expires_at", {"S": "2027-04-01T02:10:00.000000Z"})
    assert await verify_all(world) == [
        (
            "r5",
            "expires_at says 2027-04-01T02:10:00Z, event seq 5 (EXTENDED) granted until "
            "2027-04-01T02:25:00Z: the request item was edited",
        ),
        ("r5", "field expires_at was edited (it differs from what event seq 5 (EXTENDED) wrote)"),
        (
            "r5",
            f"index key due_sk is '2027-04-01T02:25:00.000000Z#{r5}', the request's own fields "
            f"give '2027-04-01T02:10:00.000000Z#{r5}': the request item was edited",
        ),
    ]


async def test_seals_are_part_of_the_event_hash(world: World) -> None:
    r1 = world.ids["r1"]
    async with world.clients.client("dynamodb") as dynamodb:
        await dynamodb.update_item(
            TableName=TABLE, Key=row_key(r1, "EVT#000002"), UpdateExpression="REMOVE sealed"
        )
    assert ("r1", "event seq 2 was edited (its hash does not match)") in await verify_all(world)


async def test_concurrent_creations_are_all_anchored(clients: AwsClients) -> None:
    store = DynamoStore(clients, "anchor-test")
    await store.ensure_table()
    made = [
        access_request(
            id=f"{n % 16:x}{n:011x}",
            requester_id=ALICE,
            account_name="development",
            account_id=DEV,
            reason="load",
            duration_minutes=15,
            services=s3(["s3:GetObject"], "dev-logs"),
            created_at=T0 + timedelta(hours=2, seconds=n),
        )
        for n in range(40)  # two or three in each of the day's sixteen shards
    ]
    await asyncio.gather(*(store.create(r, ALICE, {}) for r in made))
    anchored = await store.anchored(T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert anchored == {r.id: "2027-04-01" for r in made}
    assert await store.anchored(None, T0) == anchored
