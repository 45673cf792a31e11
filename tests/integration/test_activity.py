"""``audit activity`` and ``audit unused``: a grant's CloudTrail events, grouped by action.

CloudTrail is played by tests/cloudtrail.py (moto has no LookupEvents; see there). Everything
else is real: the store and STS (the account role is assumed) are moto's server.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_access_bot.audit import commands
from cloud_access_bot.audit.activity import grant_activity
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.cloudtrail import CloudTrailLookup
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.cli import main
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest, EventType, ServiceAccess, Status
from tests.cloudtrail import EMAIL, Trail, record
from tests.integration.test_audit import read_rows

START = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
ROLE = "arn:aws:iam::111111111111:role/cloud-access-bot"
CONFIG = BotConfig.model_validate(
    {
        "loginRoles": ["Developer"],
        "approvalGroups": ["sre"],
        "accounts": {"dev": {"account_number": "111111111111", "iam_role": ROLE}},
    }
)
GRANTED = (
    "s3:GetObject",
    "s3:ListBucket",
    "s3:PutObject",
    "s3:DeleteObject",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)


async def granted_and_revoked(
    store: DynamoStore, request_id: str, review_at: datetime | None = None
) -> AccessRequest:
    """Granted at START for an hour, revoked after 30 minutes (the store's clock), its usage
    review due at ``review_at``."""
    request = AccessRequest(
        id=request_id,
        requester_id="U1",
        requester_email=EMAIL,
        account_name="dev",
        account_id="111111111111",
        login_role="Developer",
        reason="INC-42",
        duration_minutes=60,
        services=(
            ServiceAccess("s3", GRANTED[:4], ("arn:aws:s3:::logs",)),
            ServiceAccess("dynamodb", GRANTED[4:], ("*",)),
        ),
        created_at=START - timedelta(minutes=5),
    )
    created = await store.create(request, "U1", {})
    active = await store.commit(
        created,
        created.with_changes(
            status=Status.ACTIVE,
            approvals=("U2",),
            starts_at=START,
            expires_at=START + timedelta(hours=1),
            policy_name="cloud-access-bot-x",
            policy_document='{"Version":"2012-10-17","Statement":[]}',
        ),
        EventType.GRANTED,
        "bot",
        {},
    )
    revoked = active.with_changes(status=Status.REVOKED, usage_review_at=review_at)
    return await store.commit(active, revoked, EventType.REVOKED, "U2", {})


@pytest.fixture
async def store(clients: AwsClients) -> DynamoStore:
    # Its events are stamped 30 minutes into the grant: the revoke ends the window there.
    made = DynamoStore(clients, "cab-test", clock=lambda: START + timedelta(minutes=30))
    await made.ensure_table()
    return made


async def test_activity_groups_the_sessions_calls_in_the_window_with_errors(
    store: DynamoStore, clients: AwsClients, trail: Trail
) -> None:
    await granted_and_revoked(store, "a1b2c3d4e5f6")
    minute = timedelta(minutes=1)
    trail.records = [
        *(record(START + i * minute / 10, "s3", "GetObject") for i in range(120)),
        record(START + 2 * minute, "s3", "PutObject", error="AccessDenied"),
        record(START + 3 * minute, "dynamodb", "Query"),
        record(
            START + 3 * minute, "dynamodb", "Query", error="ValidationException", region="us-east-1"
        ),
        record(START + 4 * minute, "sts", "GetCallerIdentity"),  # not a granted service
        record(START + 5 * minute, "s3", "DeleteObject", session="bob@example.com"),
        record(START + 45 * minute, "s3", "DeleteObject"),  # after the revoke
        record(START - minute, "s3", "ListBucket"),  # before the grant
    ]

    activity = await grant_activity(store, CloudTrailLookup(clients), CONFIG, "a1b2c3d4e5f6")

    assert [(u.action, u.calls, u.errors) for u in activity.uses] == [
        ("s3:GetObject", 120, {}),
        ("dynamodb:Query", 2, {"ValidationException": 1}),
        ("s3:PutObject", 1, {"AccessDenied": 1}),
    ]
    assert activity.summary == (
        "used 2 of 7 actions; never used s3:ListBucket, s3:PutObject, s3:DeleteObject, "
        "dynamodb:GetItem, dynamodb:Scan"
    )
    assert trail.calls >= 3  # 120 events in the window: pages of 50 were followed
    _, text = commands.cli_output(activity, "table")
    assert "used 2 of 7 actions" in text and "AccessDenied x1" in text
    rows = read_rows(commands.cli_output(activity, "csv")[1], "csv")
    assert rows[1] == {
        "action": "dynamodb:Query",
        "calls": "2",
        "errors": ["ValidationException x1"],
        "first": "2025-03-04T10:03:00Z",
        "last": "2025-03-04T10:03:00Z",
    }


async def unused_on_march_4th(store: DynamoStore, clients: AwsClients) -> list[dict[str, Any]]:
    """``audit unused --since 2025-03-04 --until 2025-03-05 --format json``, read back."""
    parser = commands._Parser(prog="audit")
    commands.configure_parser(parser)
    args = parser.parse_args(["unused", "--since", "2025-03-04", "--until", "2025-03-05"])
    result = await commands.answer(
        args,
        store=store,
        config=CONFIG,
        now=START + timedelta(days=1),
        trail=CloudTrailLookup(clients),
    )
    return read_rows(commands.cli_output(result, "json")[1], "json")


async def test_unused_lists_the_grants_that_left_most_actions_unused(
    store: DynamoStore, clients: AwsClients, trail: Trail
) -> None:
    await granted_and_revoked(store, "a1b2c3d4e5f6")
    trail.records = [record(START + timedelta(minutes=1), "s3", "GetObject")]
    rows = await unused_on_march_4th(store, clients)

    assert [(r["request_id"], r["used"]) for r in rows] == [("a1b2c3d4e5f6", "1 of 7")]
    assert "s3:PutObject" in rows[0]["never_used"]


async def test_activity_of_a_request_never_granted_says_so(
    store: DynamoStore, clients: AwsClients, trail: Trail
) -> None:
    parser = commands._Parser(prog="audit")
    commands.configure_parser(parser)
    with pytest.raises(commands.UsageError, match="no request 000000000000"):
        await commands.answer(
            parser.parse_args(["activity", "000000000000"]),
            store=store,
            config=CONFIG,
            now=START,
            trail=CloudTrailLookup(clients),
        )


async def test_list_accepts_emails_for_user_and_approver(
    store: DynamoStore, clients: AwsClients
) -> None:
    await granted_and_revoked(store, "a1b2c3d4e5f6")  # alice's (U1), approved by U2
    bobs = AccessRequest(
        id="b1b2c3d4e5f6",
        requester_id="U2",
        requester_email="Bob@Example.com",
        account_name="dev",
        account_id="111111111111",
        login_role="Developer",
        reason="deploy",
        duration_minutes=60,
        services=(ServiceAccess("s3", ("s3:GetObject",), ("*",)),),
        created_at=START,
    )
    created = await store.create(bobs, "U2", {})
    await store.commit(
        created,
        created.with_changes(status=Status.APPROVED, approvals=("U1",), decided_by="U1"),
        EventType.APPROVED,
        "U1",
        {},
    )
    parser = commands._Parser(prog="audit")
    commands.configure_parser(parser)

    async def ids(*argv: str) -> list[str]:
        args = parser.parse_args(["list", "--since", "2025-03-01", *argv])
        result = await commands.answer(
            args, store=store, config=CONFIG, now=START + timedelta(days=1)
        )
        assert isinstance(result, commands.Listing)
        return [r.id for r in result.requests]

    assert await ids("--user", "bob@example.com") == ["b1b2c3d4e5f6"]
    assert await ids("--user", "<mailto:alice@example.com|alice@example.com>") == ["a1b2c3d4e5f6"]
    assert await ids("--approver", "alice@example.com") == ["b1b2c3d4e5f6"]
    assert await ids("--approver", "bob@example.com") == ["a1b2c3d4e5f6"]
    with pytest.raises(commands.UsageError, match=r"--approver: .*carol@example\.com"):
        await ids("--approver", "carol@example.com")


async def test_cli_activity_denied_names_the_permission_and_exits_1(
    store: DynamoStore,
    trail: Trail,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await granted_and_revoked(store, "a1b2c3d4e5f6")
    trail.denied = True
    path = tmp_path / "bot.yml"
    path.write_text(
        json.dumps(
            {
                "loginRoles": ["Developer"],
                "approvalGroups": ["sre"],
                "dynamoDbTable": "cab-test",
                "accounts": {"dev": {"account_number": "111111111111", "iam_role": ROLE}},
            }
        )
    )
    for name in ("BOT_CONFIG_S3_BUCKET", "BOT_CONFIG_S3_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_CONFIG_FILE", str(path))
    # One AWS_ENDPOINT_URL would send CloudTrail to moto too: name each service's endpoint.
    moto = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto)

    code = await asyncio.to_thread(main, ["audit", "activity", "a1b2c3d4e5f6"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == (
        "error: CloudTrail in account 111111111111: access denied (AccessDeniedException); the "
        "caller's IAM policy needs sts:AssumeRole on the account's iam_role, which needs "
        "cloudtrail:LookupEvents"
    )


async def test_activity_of_a_grant_with_10000_trail_events(
    store: DynamoStore, clients: AwsClients, trail: Trail
) -> None:
    """The figure: the bot's side of paging and grouping 10,000 events in the grant's 30
    minutes (200 pages of 50). Real CloudTrail allows 2 LookupEvents a second per region, so
    AWS adds about 100 s."""
    await granted_and_revoked(store, "a1b2c3d4e5f6")
    names = ("GetObject", "ListBucket", "PutObject")
    trail.records = [
        record(START + timedelta(seconds=i * 0.18), "s3", names[i % 3]) for i in range(10_000)
    ]

    started = time.perf_counter()
    activity = await grant_activity(store, CloudTrailLookup(clients), CONFIG, "a1b2c3d4e5f6")
    seconds = time.perf_counter() - started

    print(f"audit activity: 10,000 events, {trail.calls} LookupEvents calls, {seconds:.1f} s")
    assert sum(u.calls for u in activity.uses) == 10_000
    assert activity.summary.startswith("used 3 of 7 actions")


async def test_unused_takes_a_recorded_usage_review_without_reading_cloudtrail(
    store: DynamoStore, clients: AwsClients, trail: Trail
) -> None:
    revoked = await granted_and_revoked(store, "a1b2c3d4e5f6")
    review = {"granted": list(GRANTED), "used": ["s3:GetObject"], "unused": list(GRANTED[1:])}
    await store.commit(revoked, revoked, EventType.USAGE_REVIEWED, "cloud-access-bot", review)
    rows = await unused_on_march_4th(store, clients)

    assert [(r["request_id"], r["used"]) for r in rows] == [("a1b2c3d4e5f6", "1 of 7")]
    assert trail.calls == 0  # the trail (empty here) was not asked
