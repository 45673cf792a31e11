"""The outbox, its drain to the S3 archive and EventBridge, and ``verify --archive``, on moto.

Failures are real ones of moto's server: a bucket or bus that does not exist yet refuses the
write exactly as AWS would, and the events must wait in the outbox and arrive later.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_access_bot.audit import commands
from cloud_access_bot.audit.archive import verify_archive
from cloud_access_bot.aws.archive import ArchiveOnAws, S3Archive
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.drainer import OutboxDrainer
from cloud_access_bot.aws.events import EventBridgePublisher
from cloud_access_bot.aws.outbox import read_outbox
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.cli import main
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.archive import COLUMNS, event_of, json_lines
from cloud_access_bot.domain.audit import verify_chain
from cloud_access_bot.domain.model import AccessRequest, EventType, ServiceAccess, Status
from cloud_access_bot.metrics import Point, Recorder
from tests.integration.test_audit import read_rows

TABLE = "cab-test"
BUCKET = "acme-audit"
BUS = "cloud-access"
DAY1 = datetime(2025, 3, 4, 23, 59, 0, 123456, tzinfo=UTC)
DAY2 = DAY1 + timedelta(minutes=2)


def config(*, bus: bool = False) -> BotConfig:
    return BotConfig.model_validate(
        {
            "loginRoles": ["Developer"],
            "approvalGroups": ["sre"],
            "accounts": {
                "dev": {
                    "account_number": "111111111111",
                    "iam_role": "arn:aws:iam::111111111111:role/bot",
                }
            },
            "audit_archive": {"bucket": BUCKET, "prefix": "events/"},
            **({"event_bus": BUS} if bus else {}),
        }
    )


class Points:
    """A metrics sink keeping what was written."""

    def __init__(self) -> None:
        self.points: list[Point] = []

    def write(self, points: list[Point]) -> None:
        self.points.extend(points)

    def total(self, name: str, destination: str) -> float:
        return sum(
            p.value
            for p in self.points
            if p.name == name and p.dimensions.get("Destination") == destination
        )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pending(request_id: str) -> AccessRequest:
    return AccessRequest(
        id=request_id,
        requester_id="U1",
        requester_email="alice@example.com",
        account_name="dev",
        account_id="111111111111",
        login_role="Developer",
        reason="debug the ingest job",
        duration_minutes=60,
        services=(ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::logs",)),),
        created_at=DAY1,
        approvers=("U2",),
        timeout_at=DAY1 + timedelta(hours=8),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY1)


@pytest.fixture
async def store(clients: AwsClients, clock: Clock) -> DynamoStore:
    made = DynamoStore(clients, TABLE, clock=clock, outbox=lambda: True)
    await made.ensure_table()
    return made


def drainer(
    clients: AwsClients, clock: Clock, points: Points, *, bus: bool = False
) -> OutboxDrainer:
    return OutboxDrainer(
        clients,
        TABLE,
        config=lambda: config(bus=bus),
        writer=S3Archive(clients),
        publisher=EventBridgePublisher(clients),
        metrics=Recorder(points),
        clock=clock,
    )


async def lifecycle(store: DynamoStore, clock: Clock, request_id: str) -> AccessRequest:
    """Requested and approved on day 1, granted and revoked on day 2."""
    created = await store.create(pending(request_id), "U1", {})
    approved = await store.commit(
        created,
        created.with_changes(status=Status.APPROVED, approvals=("U2",), decided_by="U2"),
        EventType.APPROVED,
        "U2",
        {"reason": "ok", "break_glass": False},
    )
    clock.now = DAY2
    granted = await store.commit(
        approved,
        approved.with_changes(
            status=Status.ACTIVE, starts_at=DAY2, expires_at=DAY2 + timedelta(hours=1)
        ),
        EventType.GRANTED,
        "bot",
        {"expires_at": "2025-03-05T01:01:00Z"},
    )
    return await store.commit(
        granted, granted.with_changes(status=Status.REVOKED), EventType.REVOKED, "U1", {}
    )


async def objects(clients: AwsClients) -> dict[str, list[dict[str, Any]]]:
    """Every archive object's key and its JSON Lines."""
    async with clients.client("s3") as s3:
        listing = await s3.list_objects_v2(Bucket=BUCKET)
        found = {}
        for item in listing.get("Contents", []):
            answer = await s3.get_object(Bucket=BUCKET, Key=item["Key"])
            async with answer["Body"] as body:
                text = (await body.read()).decode()
            found[item["Key"]] = [json.loads(line) for line in text.splitlines()]
    return found


async def make_bucket(clients: AwsClients) -> None:
    async with clients.client("s3") as s3:
        await s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )


async def test_every_event_reaches_the_archive_in_order_partitioned_by_day(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    await make_bucket(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    points = Points()
    report = await drainer(clients, clock, points).drain()

    found = await objects(clients)
    assert report.archived == 4
    assert sorted(k.split("/")[1] for k in found) == ["dt=2025-03-04", "dt=2025-03-05"]
    assert all(k.startswith("events/dt=") and k.endswith(".jsonl") for k in found)
    rows = [row for key in sorted(found) for row in found[key]]
    assert [(r["seq"], r["type"]) for r in rows] == [
        (1, "REQUESTED"),
        (2, "APPROVED"),
        (3, "GRANTED"),
        (4, "REVOKED"),
    ]
    table_events = await store.events("a1b2c3d4e5f6")
    assert [r["hash"] for r in rows] == [e.hash for e in table_events]
    assert [json.loads(r["sealed"]) for r in rows] == [e.sealed for e in table_events]
    assert rows[2]["account_id"] == "111111111111" and rows[2]["expires_at"]
    assert points.total("OutboxDelivered", "archive") == 4
    async with clients.client("dynamodb") as dynamodb:
        assert await read_outbox(dynamodb, TABLE) == []


async def test_an_archive_outage_loses_nothing_and_is_counted(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    points = Points()
    first = await drainer(clients, clock, points).drain()  # the bucket does not exist yet

    assert first.failed == {"archive": 4}
    assert points.total("OutboxFailed", "archive") == 4
    await make_bucket(clients)
    await drainer(clients, clock, points).drain()
    rows = [row for rows in (await objects(clients)).values() for row in rows]
    assert sorted(r["seq"] for r in rows) == [1, 2, 3, 4]


async def test_two_replicas_draining_at_once_deliver_each_event(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    await make_bucket(clients)
    ids = [f"{digit}0000000000{digit}" for digit in "0123456789"]
    for request_id in ids:
        await lifecycle(store, clock, request_id)
        clock.now = DAY1
    points = Points()
    await asyncio.gather(
        drainer(clients, clock, points).drain(), drainer(clients, clock, points).drain()
    )
    await drainer(clients, clock, points).drain()  # whatever the busy one left

    rows = [row for rows in (await objects(clients)).values() for row in rows]
    assert {r["event_id"] for r in rows} == {f"{i}#{s:06d}" for i in ids for s in range(1, 5)}
    async with clients.client("dynamodb") as dynamodb:
        assert await read_outbox(dynamodb, TABLE) == []


async def archive_problems(
    store: DynamoStore, clients: AwsClients, *, now: datetime = DAY2, retention: int = 400
) -> set[tuple[str, str]]:
    """What ``verify --archive`` finds, as (request id, problem)."""
    findings = await verify_archive(
        store,
        ArchiveOnAws(clients, TABLE),
        bucket=BUCKET,
        prefix="events/",
        since=None,
        now=now,
        retention=timedelta(days=retention),
    )
    return {(f.request_id, f.problem) for f in findings}


async def test_verify_archive_finds_a_request_deleted_from_the_table(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    await make_bucket(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    await lifecycle(store, clock, "b1b2c3d4e5f6")
    await drainer(clients, clock, Points()).drain()
    async with clients.client("dynamodb") as dynamodb:
        for sk in ["META", *(f"EVT#{seq:06d}" for seq in range(1, 5))]:
            await dynamodb.delete_item(
                TableName=TABLE, Key={"pk": {"S": "REQ#a1b2c3d4e5f6"}, "sk": {"S": sk}}
            )

    assert await archive_problems(store, clients) == {
        ("a1b2c3d4e5f6", "request deleted: the archive holds its 4 event(s)")
    }


async def test_verify_archive_finds_an_event_row_deleted_or_edited_and_an_unarchived_one(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    await make_bucket(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    await drainer(clients, clock, Points()).drain()
    key = {"pk": {"S": "REQ#a1b2c3d4e5f6"}}
    async with clients.client("dynamodb") as dynamodb:
        await dynamodb.delete_item(TableName=TABLE, Key=key | {"sk": {"S": "EVT#000002"}})
        await dynamodb.update_item(
            TableName=TABLE,
            Key=key | {"sk": {"S": "EVT#000003"}},
            UpdateExpression="SET #h = :h",
            ExpressionAttributeNames={"#h": "hash"},
            ExpressionAttributeValues={":h": {"S": "0" * 64}},
        )
    # A request written while the archive was not configured has no outbox item.
    unarchived = DynamoStore(clients, TABLE, clock=clock)
    await unarchived.create(pending("c1b2c3d4e5f6"), "U1", {})

    assert await archive_problems(store, clients) == {
        ("a1b2c3d4e5f6", "event seq 2 (APPROVED) was deleted from the table; the archive has it"),
        (
            "a1b2c3d4e5f6",
            "event seq 3 differs from its archived copy: the table's was edited (or the archive's)",
        ),
        ("c1b2c3d4e5f6", "event seq 1 (REQUESTED) is not in the archive"),
    }
    archived = [e for rows in (await objects(clients)).values() for e in rows]
    assert len(archived) == 4


async def test_the_archive_chain_survives_the_table_forgetting_old_events(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    """Past retention, TTL deletes events from the table; the archive still proves the chain."""
    await make_bucket(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    await drainer(clients, clock, Points()).drain()
    async with clients.client("dynamodb") as dynamodb:
        for seq in (1, 2):
            await dynamodb.delete_item(
                TableName=TABLE,
                Key={"pk": {"S": "REQ#a1b2c3d4e5f6"}, "sk": {"S": f"EVT#{seq:06d}"}},
            )
    assert (
        await archive_problems(store, clients, now=DAY2 + timedelta(days=2), retention=1) == set()
    )
    records = await S3Archive(clients).read(BUCKET, "events/", None)
    assert verify_chain([event_of(r) for r in records]) == []


async def event_queue(clients: AwsClients) -> str:
    """An SQS queue receiving every cloud-access-bot event on the bus (a rule with a target)."""
    async with clients.client("sqs") as sqs, clients.client("events") as events:
        url = (await sqs.create_queue(QueueName="audit-events"))["QueueUrl"]
        arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        await events.create_event_bus(Name=BUS)
        await events.put_rule(
            Name="to-sqs",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": ["cloud-access-bot"]}),
        )
        await events.put_targets(
            Rule="to-sqs", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}]
        )
    return url


async def received(clients: AwsClients, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with clients.client("sqs") as sqs:
        while True:
            answer = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            if not answer.get("Messages"):
                return messages
            messages.extend(json.loads(m["Body"]) for m in answer["Messages"])


async def test_each_state_change_is_an_event_on_the_bus_without_seals(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    await make_bucket(clients)
    url = await event_queue(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    points = Points()
    report = await drainer(clients, clock, points, bus=True).drain()

    events = await received(clients, url)
    assert report.published == 4 and points.total("OutboxDelivered", "event_bus") == 4
    assert [e["detail-type"] for e in sorted(events, key=lambda e: e["detail"]["seq"])] == [
        "AccessRequested",
        "AccessApproved",
        "AccessGranted",
        "AccessRevoked",
    ]
    approved = next(e for e in events if e["detail-type"] == "AccessApproved")
    assert approved["source"] == "cloud-access-bot"
    assert approved["detail"]["details"] == {"reason": "ok", "break_glass": False}
    assert approved["detail"]["requester_email"] == "alice@example.com"
    assert "sealed" not in approved["detail"]
    async with clients.client("dynamodb") as dynamodb:
        assert await read_outbox(dynamodb, TABLE) == []


async def test_a_bus_outage_is_retried_and_counted_without_archiving_twice(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    await make_bucket(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    points = Points()
    first = await drainer(clients, clock, points, bus=True).drain()  # no bus yet

    assert first.archived == 4 and first.failed == {"event_bus": 4}
    assert points.total("OutboxFailed", "event_bus") == 4
    url = await event_queue(clients)
    await drainer(clients, clock, points, bus=True).drain()
    assert len(await received(clients, url)) == 4
    assert sum(len(rows) for rows in (await objects(clients)).values()) == 4
    async with clients.client("dynamodb") as dynamodb:
        assert await read_outbox(dynamodb, TABLE) == []


async def test_export_writes_the_archives_records(
    store: DynamoStore, clients: AwsClients, clock: Clock
) -> None:
    """The same columns; each event's own fields as archived; the last line byte for byte
    (earlier lines carry the request as it is now, the archive as each event left it)."""
    await make_bucket(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    await drainer(clients, clock, Points()).drain()
    parser = commands._Parser(prog="audit")
    commands.configure_parser(parser)
    args = parser.parse_args(["export", "--since", "2025-03-04", "--until", "2025-03-06"])
    result = await commands.answer(args, store=store, config=config(), now=DAY2)

    _, jsonl = commands.cli_output(result, "jsonl")
    _, csv_text = commands.cli_output(result, "csv")

    archived = sorted(
        (row for rows in (await objects(clients)).values() for row in rows),
        key=lambda r: r["seq"],
    )
    exported = [json.loads(line) for line in jsonl.splitlines()]
    event_columns = COLUMNS[: COLUMNS.index("sealed") + 1]
    assert [[r[c] for c in event_columns] for r in exported] == [
        [r[c] for c in event_columns] for r in archived
    ]
    assert jsonl.splitlines()[-1] == json_lines([archived[-1]]).rstrip("\n")
    assert csv_text.splitlines()[0] == ",".join(COLUMNS)
    assert read_rows(csv_text, "csv")[0]["actions"] == ["s3:GetObject"]


async def test_cli_verify_archive_reports_a_deleted_request_and_exits_1(
    store: DynamoStore,
    clients: AwsClients,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await make_bucket(clients)
    await lifecycle(store, clock, "a1b2c3d4e5f6")
    await drainer(clients, clock, Points()).drain()
    async with clients.client("dynamodb") as dynamodb:
        await dynamodb.delete_item(
            TableName=TABLE, Key={"pk": {"S": "REQ#a1b2c3d4e5f6"}, "sk": {"S": "META"}}
        )
    settings = {
        key: value
        for key, value in config().model_dump(mode="json", exclude_none=True).items()
        if key != "dynamodb_table"
    } | {"dynamoDbTable": TABLE}
    with_archive, without = tmp_path / "archive.yml", tmp_path / "plain.yml"
    with_archive.write_text(json.dumps(settings))
    without.write_text(json.dumps({k: v for k, v in settings.items() if k != "audit_archive"}))
    for name in ("BOT_CONFIG_S3_BUCKET", "BOT_CONFIG_S3_KEY"):
        monkeypatch.delenv(name, raising=False)

    monkeypatch.setenv("BOT_CONFIG_FILE", str(with_archive))
    code = await asyncio.to_thread(main, ["audit", "verify", "--archive"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "request a1b2c3d4e5f6: request deleted: the archive holds its 4 event(s)" in out
    assert "archive s3://acme-audit/events/ checked against the table" in out

    monkeypatch.setenv("BOT_CONFIG_FILE", str(without))
    code = await asyncio.to_thread(main, ["audit", "verify", "--archive"])
    assert code == 2
    assert "--archive: the configuration has no audit_archive" in capsys.readouterr().err
