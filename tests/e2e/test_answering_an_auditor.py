""" "Who had write access to production that day, who approved it, what did they do with it?"
answered from Athena alone and from the CLI alone, and the answers agree (docs/audit.md,
"Answering an auditor").

The real bot (Socket Mode against the emulator, moto's server for AWS, CloudTrail played by
tests/cloudtrail.py) grants, revokes, expires and reviews; its drain writes the archive to
moto's S3. The archive's objects are then downloaded with aioboto3, keeping their ``dt=``
folders, and every query of docs/audit.md runs on them exactly as documented (Trino SQL,
translated to DuckDB by sqlglot, tests/athena.py). The CLI answers the same question from the
table with ``cloud-access-bot audit who-had-access --write``, ``audit show`` and ``audit activity``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from cloud_access_bot.aws.session_granter import session_name
from cloud_access_bot.cli import main
from cloud_access_bot.domain.archive import COLUMNS, moment
from cloud_access_bot.domain.model import AccessRequest, EventType, Status, parse_iso
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    LOGIN_ROLE,
    OUTSIDER,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)
from tests.athena import athena, documented_queries, glue_columns, moved_to, run
from tests.cloudtrail import Trail, record
from tests.e2e.test_usage import message_with

BOB, CAROL = APPROVERS
BUCKET = "acme-audit"
PREFIX = "events/"
QUESTION = "Who had write access during a day, who approved, what they did"


@contextlib.asynccontextmanager
async def archived_sandbox(clock: ManualClock) -> AsyncIterator[Sandbox]:
    """The sandbox bot with ``audit_archive`` on, its bucket made before the bot starts."""
    config = sandbox_config(audit_archive={"bucket": BUCKET, "prefix": PREFIX})
    async with sandbox(start=False, config=config, clock=clock) as world:
        async with world.clients.client("s3") as s3:
            await s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        await world.start_bot()
        yield world


@pytest.fixture
async def archived_world(aws: str, clock: ManualClock) -> AsyncIterator[Sandbox]:
    async with archived_sandbox(clock) as world:
        yield world


async def granted(
    world: Sandbox, user: str, approver: str, account: str, actions: tuple[str, ...], minutes: int
) -> AccessRequest:
    bucket = world.accounts[account].buckets[0]
    request = await world.submit(
        user=user, account=account, actions=actions, resources=[bucket], duration=minutes
    )
    await world.click(approver, await world.approval_dm(approver, request.id), views.APPROVE_ACTION)
    return await world.wait_for_status(request.id, Status.ACTIVE)


def calls(request: AccessRequest, email: str, *names: str) -> list[dict[str, Any]]:
    """CloudTrail's records of successful s3 calls by the request's session, 2 minutes in."""
    assert request.starts_at is not None
    at = request.starts_at + timedelta(minutes=2)
    account = ACCOUNTS[request.account_name]
    return [
        record(at, "s3", n, session=session_name(email), account=account, role=LOGIN_ROLE)
        for n in names
    ]


async def reviewed(world: Sandbox, request_id: str) -> bool:
    return any(e.type is EventType.USAGE_REVIEWED for e in await world.store.events(request_id))


async def download_archive(world: Sandbox, into: Path) -> None:
    """Every object of the archive, at its key under ``into`` (so ``dt=`` folders stay)."""
    async with world.clients.client("s3") as s3:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
        async for page in pages:
            for item in page.get("Contents", []):
                body = await s3.get_object(Bucket=BUCKET, Key=item["Key"])
                path = into / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(await body["Body"].read())


async def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """``cloud-access-bot audit … --format json``'s answer (it runs its own event loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", *args, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_the_glue_table_declares_the_archive_record() -> None:
    assert [name for name, _ in glue_columns()] == list(COLUMNS)


async def test_athena_and_the_cli_name_the_same_write_grants_approvers_and_use(
    archived_world: Sandbox,
    clock: ManualClock,
    trail: Trail,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = archived_world
    read_write = ("s3:GetObject", "s3:PutObject")
    # Alice writes to production (Bob approves) and revokes after 10 minutes; Bob only reads
    # production (Carol approves); Carol writes to production for 15 minutes (Bob approves);
    # Mallory writes to development (Carol approves). All are reviewed after they end.
    alice = await granted(world, REQUESTER, BOB, "production", read_write, 60)
    bob = await granted(world, BOB, CAROL, "production", ("s3:GetObject",), 60)
    carol = await granted(world, CAROL, BOB, "production", ("s3:PutObject",), 15)
    mallory = await granted(world, OUTSIDER, CAROL, "development", ("s3:PutObject",), 15)
    trail.records = [
        *calls(alice, "alice@example.com", "GetObject"),
        *calls(bob, "bob@example.com", "GetObject"),
        *calls(carol, "carol@example.com", "PutObject"),
        *calls(mallory, "mallory@example.com", "PutObject"),
    ]
    clock.advance(minutes=10)
    done = await message_with(world, REQUESTER, alice.id, "I'm done")
    await world.click(REQUESTER, done, views.REVOKE_ACTION)
    await world.wait_for_status(alice.id, Status.REVOKED)
    clock.advance(minutes=60)  # the others expire; Alice's review is due
    for request in (bob, carol, mallory):
        await world.wait_for_status(request.id, Status.EXPIRED)
    clock.advance(minutes=16)  # every review is due
    everyone = (alice, bob, carol, mallory)
    for request in everyone:
        await world.wait_for(partial(reviewed, world, request.id), "its usage review", 20)

    async def drained() -> bool:
        async with world.clients.client("dynamodb") as dynamodb:
            found = await dynamodb.query(
                TableName=world.config.dynamodb_table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "OUTBOX"}},
            )
        return not found["Items"]

    await world.wait_for(drained, "the outbox drained to the archive", 20)

    # Athena alone: the archive's objects, the documented query, the day of the grants.
    await download_archive(world, tmp_path / "archive")
    assert alice.starts_at is not None
    day = alice.starts_at.date()
    queries = documented_queries()
    database = athena(tmp_path / "archive")
    from_athena = run(database, moved_to(queries[QUESTION], day))
    athena_answer = [
        {
            "request_id": row["request_id"],
            "user": row["requester_id"],
            "email": row["email"],
            "starts_at": moment(row["starts_at"]),
            "ends_at": moment(row["ends_at"]),
            "approved_by": row["approved_by"],
            "access_levels": row["access_levels"],
            "used": row["used"],
            "unused": row["unused"],
        }
        for row in from_athena
    ]

    # The CLI alone: who-had-access --write, then each grant's recorded review.
    config = tmp_path / "bot.json"
    config.write_text(json.dumps(world.config.model_dump(mode="json")))
    for name in ("BOT_CONFIG_S3_BUCKET", "BOT_CONFIG_S3_KEY", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_CONFIG_FILE", str(config))
    # The CLI's own clients: DynamoDB and STS on moto, CloudTrail on tests/cloudtrail.py (one
    # AWS_ENDPOINT_URL would send CloudTrail to moto too). The bot is done by now.
    await world.stop_bot()
    moto = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto)
    since, until = day.isoformat(), (day + timedelta(days=1)).isoformat()
    grants = await cli(
        capsys, "who-had-access", "--account", "production", "--between", since, until, "--write"
    )
    cli_answer = []
    for grant in grants:
        shown = await cli(capsys, "show", grant["request_id"])
        (review,) = (e for e in shown["events"] if e["type"] == "USAGE_REVIEWED")
        # audit activity reads CloudTrail again: the calls behind the review's "used".
        activity = await cli(capsys, "activity", grant["request_id"])
        assert [row["action"] for row in activity] == review["details"]["used"]
        cli_answer.append(
            {k: grant[k] for k in ("request_id", "user", "email", "starts_at", "ends_at")}
            | {"approved_by": grant["approved_by"], "access_levels": grant["access_levels"]}
            | {"used": review["details"]["used"], "unused": review["details"]["unused"]}
        )

    assert athena_answer == cli_answer
    # And the answer is the right one: Alice (revoked after 10 minutes) and Carol, not Bob's
    # read-only grant nor Mallory's in development.
    assert [row["request_id"] for row in cli_answer] == [alice.id, carol.id]
    assert [row["approved_by"] for row in cli_answer] == [[BOB], [BOB]]
    assert [row["used"] for row in cli_answer] == [["s3:GetObject"], ["s3:PutObject"]]
    assert cli_answer[0]["unused"] == ["s3:PutObject"]
    assert alice.starts_at + timedelta(minutes=10) <= parse_iso(cli_answer[0]["ends_at"])
    assert parse_iso(cli_answer[0]["ends_at"]) < alice.starts_at + timedelta(minutes=11)

    # Every other documented query runs on the same archive.
    answers = {
        name: run(database, moved_to(sql, day)) for name, sql in queries.items() if name != QUESTION
    }
    approvals = {row["approver"]: row["approved"] for row in answers["Approvals by approver"]}
    assert approvals == {BOB: 2, CAROL: 2}
    assert answers["Break-glass uses"] == []
    assert {row["request_id"] for row in answers["Usage reviews"]} == {r.id for r in everyone}
    assert set(answers) == {
        "Who had access at a moment",
        "Approvals by approver",
        "Break-glass uses",
        "Usage reviews",
    }
