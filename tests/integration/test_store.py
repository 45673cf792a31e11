"""DynamoStore against moto: round-trips, conditional commits, the due index, the audit chain."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.store import STATE, DynamoStore, request_key
from cloud_access_bot.domain.audit import verify_chain
from cloud_access_bot.domain.model import (
    AccessRequest,
    EventType,
    MessageRef,
    RecordedAccount,
    ServiceAccess,
    Status,
)
from cloud_access_bot.ports import ConflictError, StoreUnavailable
from tests.factories import access_request

NOW = datetime(2025, 3, 4, 10, 0, 0, 123456, tzinfo=UTC)
SESSION_ACCOUNT = RecordedAccount(
    iam_role="arn:aws:iam::111111111111:role/bot",
    access_mode="session_credentials",
    managed_policy_name="cloud-access-bot-grants",
    managed_policy_path="/",
    broker_role="arn:aws:iam::111111111111:role/broker",
    revoke_cuts_off_session=True,
)
#: The ``extra`` attribute of a session grant with an extension waiting, exactly as rows were
#: written when these values lived in ``AccessRequest.extra`` (account settings as text).
OLD_EXTRA = (
    '{"access_levels": {"s3": {"List": 1, "Read": 1}}, "access_mode": "session_credentials", '
    '"broker_role": "arn:aws:iam::111111111111:role/broker", "extension_approvals": ["U3"], '
    '"extension_minutes": 30, "iam_role": "arn:aws:iam::111111111111:role/bot", '
    '"managed_policy_name": "cloud-access-bot-grants", "managed_policy_path": "/", '
    '"revoke_cuts_off_session": "True"}'
)


@pytest.fixture
async def store(clients: AwsClients) -> DynamoStore:
    made = DynamoStore(clients, "cab-test")
    await made.ensure_table()
    return made


def pending(request_id: str = "0123456789ab", **changes: Any) -> AccessRequest:
    return access_request(
        id=request_id,
        reason="debug the ingest job",
        services=(
            ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), ("arn:aws:s3:::logs",)),
            ServiceAccess("dynamodb", ("dynamodb:GetItem",), ("*",)),
        ),
        created_at=NOW,
        approvers=("U2", "U3"),
        timeout_at=NOW + timedelta(hours=8),
    ).with_changes(**changes)


def approve(request: AccessRequest, by: str = "U2") -> AccessRequest:
    return request.with_changes(
        status=Status.APPROVED, approvals=(by,), decided_by=by, decided_at=NOW
    )


def activate(request: AccessRequest, expires: datetime) -> AccessRequest:
    return request.with_changes(
        status=Status.ACTIVE,
        starts_at=NOW,
        expires_at=expires,
        policy_name="cloud-access-bot-0123456789ab",
        policy_document='{"Version":"2012-10-17"}',
    )


async def activated(store: DynamoStore, request_id: str, expires: datetime) -> AccessRequest:
    created = await store.create(pending(request_id), "U1", {})
    approved = await store.commit(created, approve(created), EventType.APPROVED, "U2", {})
    return await store.commit(approved, activate(approved, expires), EventType.GRANTED, "bot", {})


async def test_ensure_table_is_idempotent_and_enables_ttl(
    store: DynamoStore, clients: AwsClients
) -> None:
    await store.ensure_table()
    async with clients.client("dynamodb") as dynamodb:
        table = (await dynamodb.describe_table(TableName="cab-test"))["Table"]
        ttl = await dynamodb.describe_time_to_live(TableName="cab-test")
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == [
        "by_account",
        "by_due",
        "by_month",
        "by_user",
    ]
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


async def test_every_field_round_trips(store: DynamoStore) -> None:
    request = pending(
        status=Status.ACTIVE,
        approvals=("U2",),
        approvals_required=2,
        decided_by="U2",
        decided_at=NOW + timedelta(minutes=1),
        decision_reason="looks fine",
        starts_at=NOW + timedelta(minutes=2),
        expires_at=NOW + timedelta(minutes=62),
        policy_name="cloud-access-bot-0123456789ab",
        policy_document='{"Version": "2012-10-17"}',
        failure_reason="",
        messages=(MessageRef("D1", "1700000000.000100", "U2"), MessageRef("D2", "1.2", "U3")),
        requester_message=MessageRef("D0", "1.1", "U1"),
        recorded_account=SESSION_ACCOUNT,
        access_levels={"s3": {"List": 1, "Read": 1}, "dynamodb": {"Read": 1}},
        pending_extension=30,
        extension_approvals=("U3",),
        session_cut_off=False,
        scheduled_start=NOW + timedelta(minutes=2),
    )
    created = await store.create(request, "U1", {"reason": request.reason})
    assert created.version == 1
    assert created.last_event_hash
    assert await store.get(request.id) == created
    assert created == request.with_changes(last_event_hash=created.last_event_hash)


async def test_a_row_written_before_the_typed_fields_loads_and_is_written_the_same(
    store: DynamoStore, clients: AwsClients
) -> None:
    typed = pending(
        recorded_account=SESSION_ACCOUNT,
        access_levels={"s3": {"List": 1, "Read": 1}},
        pending_extension=30,
        extension_approvals=("U3",),
    )
    created = await store.create(typed, "U1", {})
    key = {"pk": {"S": f"REQ#{typed.id}"}, "sk": {"S": "META"}}
    async with clients.client("dynamodb") as dynamodb:
        item = (await dynamodb.get_item(TableName="cab-test", Key=key))["Item"]
        assert item["extra"] == {"S": OLD_EXTRA}  # the format rows have always had
        old = {**item, "id": {"S": "00000000000a"}, "pk": {"S": "REQ#00000000000a"}}
        old["extra"] = {
            "S": OLD_EXTRA.replace('"True"', '"False"')[:-1] + ', "session_cut_off": false}'
        }
        await dynamodb.put_item(TableName="cab-test", Item=old)

    loaded = await store.get("00000000000a")

    assert loaded == created.with_changes(
        id="00000000000a",
        recorded_account=replace(SESSION_ACCOUNT, revoke_cuts_off_session=False),
        session_cut_off=False,
    )
    assert (loaded.pending_extension, loaded.extension_approvals) == (30, ("U3",))


async def test_missing_request_is_none(store: DynamoStore) -> None:
    assert await store.get("ffffffffffff") is None


async def test_create_twice_conflicts_with_stored_request(store: DynamoStore) -> None:
    first = await store.create(pending(), "U1", {})
    with pytest.raises(ConflictError) as conflict:
        await store.create(pending(reason="other"), "U1", {})
    assert conflict.value.current == first
    assert len(await store.events(first.id)) == 1


async def test_a_commit_over_a_copy_changed_in_memory_conflicts(store: DynamoStore) -> None:
    """A commit writes only what changed from ``current``; a ``current`` that is not what is
    stored (changed in memory, same version) would leave a mix of both, so it conflicts."""
    created = await store.create(pending(duration_minutes=60), "U1", {})
    edited = created.with_changes(duration_minutes=15)
    with pytest.raises(ConflictError) as conflict:
        await store.commit(edited, approve(edited), EventType.APPROVED, "U2", {})
    assert conflict.value.current == created
    assert len(await store.events(created.id)) == 1

    written = await store.commit(
        created, approve(created.with_changes(duration_minutes=15)), EventType.APPROVED, "U2", {}
    )
    assert (await store.get(created.id)) == written
    assert written.duration_minutes == 15


async def test_an_item_older_than_the_state_digest_and_month_index_gains_both(
    store: DynamoStore, clients: AwsClients
) -> None:
    """Items stored before the state digest and the month index existed take their next step
    (only what changed is written) and then have both."""
    created = await store.create(pending(), "U1", {})
    async with clients.client("dynamodb") as dynamodb:
        await dynamodb.update_item(
            TableName="cab-test",
            Key=request_key(created.id),
            UpdateExpression="REMOVE #s, month_pk, month_sk",
            ExpressionAttributeNames={"#s": STATE},
        )
    written = await store.commit(created, approve(created), EventType.APPROVED, "U2", {})
    assert (await store.get(created.id)) == written
    stored = await store.get_stored(created.id)
    assert stored is not None
    assert {STATE, "month_pk", "month_sk"} <= set(stored.attributes)


async def test_commit_bumps_version_and_writes_event(store: DynamoStore) -> None:
    created = await store.create(pending(), "U1", {"reason": "debug"})
    written = await store.commit(
        created, approve(created), EventType.APPROVED, "U2", {"note": "ok", "score": 1.5}
    )
    assert written.version == 2
    assert await store.get(created.id) == written
    events = await store.events(created.id)
    assert [(e.seq, e.type, e.actor, e.status) for e in events] == [
        (1, EventType.REQUESTED, "U1", Status.PENDING),
        (2, EventType.APPROVED, "U2", Status.APPROVED),
    ]
    assert events[1].details == {"note": "ok", "score": 1.5}


async def test_concurrent_commits_from_same_state_have_one_winner(store: DynamoStore) -> None:
    created = await store.create(pending(), "U1", {})
    deciders = ["U2", "U3", "U4", "U5", "U6"]
    attempts = [
        store.commit(
            created,
            created.with_changes(
                status=Status.APPROVED if n % 2 else Status.DENIED, decided_by=u, decided_at=NOW
            ),
            EventType.APPROVED if n % 2 else EventType.DENIED,
            u,
            {},
        )
        for n, u in enumerate(deciders)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [r for r in results if isinstance(r, AccessRequest)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1
    assert len(losers) == len(deciders) - 1
    assert all(loser.current == winners[0] for loser in losers)
    assert await store.get(created.id) == winners[0]
    events = await store.events(created.id)
    assert [e.seq for e in events] == [1, 2]
    assert events[1].actor == winners[0].decided_by


async def test_commit_from_stale_state_conflicts(store: DynamoStore) -> None:
    created = await store.create(pending(), "U1", {})
    approved = await store.commit(created, approve(created), EventType.APPROVED, "U2", {})
    with pytest.raises(ConflictError) as conflict:
        await store.commit(created, approve(created, "U3"), EventType.APPROVED, "U3", {})
    assert conflict.value.current == approved


async def test_commit_keeps_messages_set_after_the_read(store: DynamoStore) -> None:
    created = await store.create(pending(), "U1", {})
    messages = (MessageRef("D1", "1.1", "U2"),)
    await store.set_messages(created.id, messages, MessageRef("D0", "1.0", "U1"))
    await store.commit(created, approve(created), EventType.APPROVED, "U2", {})
    stored = await store.get(created.id)
    assert stored is not None
    assert stored.messages == messages
    assert stored.requester_message == MessageRef("D0", "1.0", "U1")


async def test_set_messages_on_missing_request_conflicts(store: DynamoStore) -> None:
    with pytest.raises(ConflictError):
        await store.set_messages("ffffffffffff", (), None)
    assert await store.get("ffffffffffff") is None


async def test_due_finds_expired_active_requests_only(store: DynamoStore) -> None:
    expired = await activated(store, "00000000000a", NOW + timedelta(minutes=1))
    await activated(store, "00000000000b", NOW + timedelta(hours=1))
    await store.create(pending("00000000000c"), "U1", {})
    later = NOW + timedelta(minutes=5)
    assert await store.due(Status.ACTIVE, later) == [expired]
    assert [r.id for r in await store.due(Status.PENDING, NOW + timedelta(hours=9))] == [
        "00000000000c"
    ]
    assert [r.id for r in await store.due(Status.APPROVED, later)] == []

    done = await store.commit(
        expired, expired.with_changes(status=Status.EXPIRED), EventType.EXPIRED, "bot", {}
    )
    assert done.version == 4
    assert await store.due(Status.ACTIVE, later) == []
    assert await store.due(Status.EXPIRED, later) == []


async def test_a_scheduled_approval_is_due_at_its_start_and_an_unscheduled_one_at_approval(
    store: DynamoStore,
) -> None:
    start = NOW + timedelta(hours=2)
    asked = await store.create(pending("00000000000d", scheduled_start=start), "U1", {})
    window = {"starts_at": start, "expires_at": start + timedelta(hours=1)}
    await store.commit(asked, approve(asked).with_changes(**window), EventType.APPROVED, "U2", {})
    now = await store.create(pending("00000000000e"), "U1", {})
    at_once = {"starts_at": NOW, "expires_at": NOW + timedelta(hours=1)}
    await store.commit(now, approve(now).with_changes(**at_once), EventType.APPROVED, "U2", {})

    before = start - timedelta(seconds=1)
    assert [r.id for r in await store.due(Status.APPROVED, before)] == ["00000000000e"]
    due = await store.due(Status.APPROVED, start)
    assert [r.id for r in due] == ["00000000000e", "00000000000d"]
    assert due[1].scheduled_start == start


async def test_due_follows_pages_and_honours_limit(store: DynamoStore) -> None:
    for number in range(5):
        await store.create(
            pending(f"{number:012x}", timeout_at=NOW + timedelta(minutes=number)), "U1", {}
        )
    due = await store.due(Status.PENDING, NOW + timedelta(hours=1), limit=3)
    assert [r.id for r in due] == [f"{n:012x}" for n in range(3)]


async def test_pending_lists_every_pending_request_whatever_its_timeout(
    store: DynamoStore,
) -> None:
    await store.create(pending("00000000000a", timeout_at=NOW + timedelta(days=365 * 20)), "U1", {})
    await store.create(pending("00000000000b", timeout_at=NOW - timedelta(hours=1)), "U1", {})
    await activated(store, "00000000000c", NOW + timedelta(hours=1))
    assert [r.id for r in await store.pending()] == ["00000000000b", "00000000000a"]
    assert [r.id for r in await store.pending(limit=1)] == ["00000000000b"]


async def test_events_form_a_verified_chain(store: DynamoStore) -> None:
    request = await activated(store, "0123456789ab", NOW + timedelta(minutes=1))
    events = await store.events(request.id)
    assert [e.seq for e in events] == [1, 2, 3]
    assert verify_chain(events, head=request.last_event_hash) == []


async def test_for_user_lists_newest_first(store: DynamoStore) -> None:
    for number in range(3):
        await store.create(
            pending(f"{number:012x}", created_at=NOW + timedelta(minutes=number)), "U1", {}
        )
    await store.create(pending("0000000000ff", requester_id="U9"), "U9", {})
    assert [r.id for r in await store.for_user("U1")] == [f"{n:012x}" for n in (2, 1, 0)]
    assert [r.id for r in await store.for_user("U1", limit=2)] == [f"{n:012x}" for n in (2, 1)]


async def test_missing_table_is_store_unavailable(clients: AwsClients) -> None:
    with pytest.raises(StoreUnavailable):
        await DynamoStore(clients, "no-such-table").get("0123456789ab")


@pytest.mark.slow
async def test_unreachable_dynamodb_is_store_unavailable(aws: str) -> None:
    offline = AwsClients(region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    try:
        with pytest.raises(StoreUnavailable):
            await DynamoStore(offline, "cab-test").create(pending(), "U1", {})
    finally:
        await offline.close()


async def test_audit_rows_expire_after_retention_but_requests_never(
    store: DynamoStore, clients: AwsClients
) -> None:
    created = await store.create(pending(), "U1", {})
    async with clients.client("dynamodb") as dynamodb:
        items = (await dynamodb.scan(TableName="cab-test"))["Items"]
    by_sk = {item["sk"]["S"]: item for item in items}
    assert "ttl" not in by_sk["META"]
    expected = int((created.created_at + timedelta(days=400)).timestamp())
    assert int(by_sk["EVT#000001"]["ttl"]["N"]) == expected


async def test_get_many_answers_those_that_exist_in_the_order_asked(store: DynamoStore) -> None:
    made = [await store.create(pending(f"0123456789a{n}"), "U1", {}) for n in range(3)]
    ids = [made[2].id, "0123456789ff", made[0].id, made[1].id, made[0].id]
    assert await store.get_many(ids) == [made[2], made[0], made[1]]
    assert await store.get_many([]) == []
