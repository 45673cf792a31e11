"""The Store port on one DynamoDB table: requests, their audit events and four indexes.

Layout (Terraform creates the same table; keep the names):

- request: ``pk=REQ#<id>``, ``sk=META``; ``by_user`` (``user_pk=USER#<requester>``,
  ``user_sk=<created>#<id>``), ``by_account`` (``account_pk=ACCOUNT#<account id>``,
  ``account_sk=<created>#<id>``) and, only while the request waits for something, ``by_due``
  (``due_pk=DUE#<status>``, ``due_sk=<due time>#<id>``: the pending timeout, the approval time
  for an interrupted grant or the start of a scheduled one, the expiry of active access), and
  ``by_month``
  (``month_pk=MONTH#<yyyy-mm of created>``, ``month_sk=<created>#<id>``: audit queries by time
  range read one partition per month, never the whole table). An ended grant whose use is
  still to be read from CloudTrail is in ``by_due`` under its own prefix, ``due_pk=REVIEW#USAGE``,
  ``due_sk=<review time>#<id>`` (``usage_review_at``), until the review is recorded.
- audit event: ``pk=REQ#<id>``, ``sk=EVT#<seq:06d>`` where seq is the request version the event
  produced; details as canonical JSON text (floats and any JSON value round-trip); ``ttl`` past
  the retention period. TTL is never used to revoke: DynamoDB may delete days late. ``sealed``
  (canonical JSON) holds the digests of the request attributes the step wrote (domain.audit).
  The recorded account, access levels, pending extension and session outcome are one JSON
  attribute, ``extra``, under the keys it has always had (``extra_attribute``).
- day anchor: ``pk=ANCHOR#<yyyy-mm>``, ``sk=DAY#<yyyy-mm-dd>#<first hex digit of the id>``,
  ``request_ids`` (a string set): every request created that day, added in the transaction
  that creates it (``ADD`` is atomic and idempotent, so replicas need no coordination; sixteen
  shards keep concurrent creations from colliding on one item). ``audit verify`` finds a
  deleted request by its id here. Anchors have no TTL, like request items.
- outbox item (only while ``outbox`` says events leave the table): ``pk=OUTBOX``,
  ``sk=<id>#<seq:06d>``, put in the same transaction as its event (aws.outbox).

Every state change and its event are one TransactWriteItems, conditional on the stored version
and status, so concurrent writers cannot both win and nothing is ever half-written. Times are
stored as fixed-width ISO-8601 UTC with microseconds so that string order is time order.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import error_code, error_message, is_unavailable
from cloud_access_bot.aws.outbox import outbox_put
from cloud_access_bot.domain import schedule
from cloud_access_bot.domain.audit import (
    attribute_digest,
    attribute_digests,
    details_json,
    seal,
    sealed_changes,
)
from cloud_access_bot.domain.model import (
    AccessRequest,
    AuditEvent,
    EventType,
    MessageRef,
    RecordedAccount,
    ServiceAccess,
    Status,
    parse_iso,
    utcnow,
)
from cloud_access_bot.ports import ConflictError, StoredRequest, StoreUnavailable

META = "META"
EVENT_PREFIX = "EVT#"
ANCHOR_PREFIX = "ANCHOR#"
USER_INDEX = "by_user"
ACCOUNT_INDEX = "by_account"
DUE_INDEX = "by_due"
#: The by_due partition of ended grants waiting for their usage review (not a status).
USAGE_REVIEW_DUE = "REVIEW#USAGE"
MONTH_INDEX = "by_month"

#: Which moment a request in each waiting status is due at (the sweeper acts after it).
DUE_FIELD: dict[Status, str] = {
    Status.PENDING: "timeout_at",
    Status.APPROVED: "decided_at",
    Status.ACTIVE: "expires_at",
}
DATETIME_FIELDS = (
    "created_at",
    "decided_at",
    "starts_at",
    "expires_at",
    "timeout_at",
    "next_reminder_at",
    "scheduled_start",
)
OPTIONAL_TEXT_FIELDS = (
    "decided_by",
    "decision_reason",
    "policy_name",
    "policy_document",
    "permission_set",
    "group",
)
#: Index keys: derived from other attributes, checked by deriving them again (index_keys).
INDEX_KEYS = tuple(f"{p}_{s}" for p in ("user", "account", "month", "due") for s in ("pk", "sk"))
#: The month index came after the others: every step writes its keys, so an item older than
#: it gains them at its next step.
MONTH_INDEX_KEYS = ("month_pk", "month_sk")
#: The digest of the item's sealed attributes as last written (``state_digest``): each step is
#: written only over the state it was computed from (``DynamoStore.commit``).
STATE = "state"
#: Attributes of a request item outside the seals: its key, the Slack message references
#: (written by set_messages, without an event), the chain head (checked as the head), the
#: index keys and the state digest (both derived from the sealed attributes).
UNSEALED = frozenset(
    {"pk", "sk", "messages", "requester_message", "last_event_hash", STATE, *INDEX_KEYS}
)
#: Errors meaning the table cannot be used right now; nothing was written.
REFUSED_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException"})
#: Retries of a transaction that collided with another one in flight on the same item.
TRANSACTION_CONFLICT_ATTEMPTS = 3
#: Keys one BatchGetItem takes (DynamoDB's limit), and its tries for keys left unprocessed.
BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 5

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def stamp(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 with microseconds and ``Z`` (sorts as time does)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def month_key(moment: datetime) -> str:
    """The by_month partition holding requests created at ``moment``."""
    return f"MONTH#{moment.astimezone(UTC):%Y-%m}"


def months_between(since: datetime, until: datetime) -> list[str]:
    """The by_month partitions covering [since, until], oldest first."""
    first, last = since.astimezone(UTC), until.astimezone(UTC)
    year, month = first.year, first.month
    keys = []
    while (year, month) <= (last.year, last.month):
        keys.append(f"MONTH#{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def request_key(request_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"REQ#{request_id}"}, "sk": {"S": META}}


def anchor_key(request: AccessRequest) -> dict[str, Any]:
    """The day anchor listing ``request`` (see the module docstring)."""
    created = request.created_at.astimezone(UTC)
    return {
        "pk": {"S": f"{ANCHOR_PREFIX}{created:%Y-%m}"},
        "sk": {"S": f"DAY#{created:%Y-%m-%d}#{request.id[:1]}"},
    }


def _json_value(value: Any) -> Any:
    """A stored value as the JSON value it was written from (DynamoDB numbers are Decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def sealed_digests(attributes: Mapping[str, Any]) -> dict[str, str]:
    """Digests of the request attributes the seals cover (written or as read back)."""
    return attribute_digests(
        {n: _json_value(v) for n, v in attributes.items() if n not in UNSEALED}
    )


def state_digest(sealed: Mapping[str, str]) -> str:
    """One digest of an item's sealed attributes, from their digests (``sealed_digests``)."""
    return attribute_digest(STATE, sealed)


def index_keys(request: AccessRequest) -> dict[str, str]:
    """The index keys the request's own attributes give it (absent ones omitted)."""
    attributes = request_attributes(request)
    return {name: attributes[name] for name in INDEX_KEYS if attributes[name] is not None}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _due_keys(request: AccessRequest) -> dict[str, str]:
    """The due index attributes for the request's status (empty: not in the index)."""
    field = DUE_FIELD.get(request.status)
    if field is None:
        return {}
    # A waiting request without its moment is due at once rather than forgotten.
    moment: datetime = getattr(request, field) or request.created_at
    if request.status is Status.PENDING and request.next_reminder_at:
        moment = min(moment, request.next_reminder_at)
    if request.status is Status.APPROVED:
        # A scheduled start is due when it begins (the sweeper writes the grant then).
        moment = schedule.due_moment(request) or moment
    return {"due_pk": f"DUE#{request.status}", "due_sk": f"{stamp(moment)}#{request.id}"}


def request_attributes(request: AccessRequest) -> dict[str, Any]:
    """Every stored attribute of the request item except the key and the message fields.

    ``None`` means "absent" (removed on update, omitted on put).
    """
    created = stamp(request.created_at)
    values: dict[str, Any] = {
        "id": request.id,
        "requester_id": request.requester_id,
        "requester_email": request.requester_email,
        "account_name": request.account_name,
        "account_id": request.account_id,
        "login_role": request.login_role,
        "reason": request.reason,
        "duration_minutes": request.duration_minutes,
        "services": [s.to_dict() for s in request.services],
        "status": str(request.status),
        "version": request.version,
        "approvers": list(request.approvers),
        "approvals": list(request.approvals),
        "approvals_required": request.approvals_required,
        "failure_reason": request.failure_reason,
        "last_event_hash": request.last_event_hash,
        "extra": json.dumps(extra_attribute(request), sort_keys=True),
        "user_pk": f"USER#{request.requester_id}",
        "user_sk": f"{created}#{request.id}",
        "account_pk": f"ACCOUNT#{request.account_id}",
        "account_sk": f"{created}#{request.id}",
        "month_pk": month_key(request.created_at),
        "month_sk": f"{created}#{request.id}",
        "due_pk": None,
        "due_sk": None,
    }
    values.update({name: getattr(request, name) for name in OPTIONAL_TEXT_FIELDS})
    for name in DATETIME_FIELDS:
        moment = getattr(request, name)
        values[name] = stamp(moment) if moment else None
    values.update(_due_keys(request))
    values.update(_review_keys(request))
    return values


def _review_keys(request: AccessRequest) -> dict[str, str]:
    """The due index attributes of an ended grant waiting for its usage review (see
    USAGE_REVIEW_DUE); empty otherwise. Only ended requests have it, so it never meets
    ``_due_keys``."""
    if request.is_open or request.usage_review_at is None:
        return {}
    return {
        "due_pk": USAGE_REVIEW_DUE,
        "due_sk": f"{stamp(request.usage_review_at)}#{request.id}",
    }


def extra_attribute(request: AccessRequest) -> dict[str, Any]:
    """The ``extra`` JSON of a request, as rows written before these were typed fields hold it
    (account settings as text, keys absent when unset): an old row read and written back is
    unchanged, so the audit seals over it still match."""
    extra: dict[str, Any] = {k: str(v) for k, v in request.recorded_account.recorded().items()}
    if request.access_levels:
        extra["access_levels"] = {s: dict(n) for s, n in request.access_levels.items()}
    if request.pending_extension:
        extra["extension_minutes"] = request.pending_extension
        extra["extension_approvals"] = list(request.extension_approvals)
    if request.session_cut_off is not None:
        extra["session_cut_off"] = request.session_cut_off
    if request.ticket is not None:
        extra["ticket"] = request.ticket
    if request.warning is not None:
        extra["warning"] = request.warning
    if request.usage_review_at is not None:
        extra["usage_review_at"] = stamp(request.usage_review_at)
    if request.routing_rules:
        extra["routing_rules"] = list(request.routing_rules)
    if request.batch:
        extra["batch"] = list(request.batch)
    return extra


def fields_from_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """The typed ``AccessRequest`` fields held in a row's ``extra`` JSON (``extra_attribute``)."""

    def text(name: str) -> str | None:
        value = extra.get(name)
        return None if value is None else str(value)

    cuts_off = text("revoke_cuts_off_session")
    minutes, approvals = extra.get("extension_minutes"), extra.get("extension_approvals")
    levels, cut_off = extra.get("access_levels"), extra.get("session_cut_off")
    routed = extra.get("routing_rules")
    return {
        "recorded_account": RecordedAccount(
            iam_role=text("iam_role"),
            access_mode=text("access_mode"),
            managed_policy_name=text("managed_policy_name"),
            managed_policy_path=text("managed_policy_path"),
            broker_role=text("broker_role"),
            revoke_cuts_off_session=None if cuts_off is None else cuts_off == "True",
        ),
        "access_levels": levels if isinstance(levels, dict) else {},
        "pending_extension": minutes if isinstance(minutes, int) and minutes > 0 else 0,
        "extension_approvals": tuple(map(str, approvals)) if isinstance(approvals, list) else (),
        "session_cut_off": cut_off if isinstance(cut_off, bool) else None,
        "ticket": text("ticket"),
        "warning": text("warning"),
        "usage_review_at": parse_iso(review) if (review := text("usage_review_at")) else None,
        "routing_rules": tuple(map(str, routed)) if isinstance(routed, list) else (),
        "batch": tuple(map(str, batch)) if isinstance(batch := extra.get("batch"), list) else (),
    }


def message_attributes(
    messages: Sequence[MessageRef], requester_message: MessageRef | None
) -> dict[str, Any]:
    return {
        "messages": [m.to_dict() for m in messages],
        "requester_message": requester_message.to_dict() if requester_message else None,
    }


def request_from_item(item: dict[str, Any]) -> AccessRequest:
    data = _plain(item)

    def moment(name: str) -> datetime | None:
        return parse_iso(data[name]) if data.get(name) else None

    requester_message = data.get("requester_message")
    return AccessRequest(
        id=data["id"],
        requester_id=data["requester_id"],
        requester_email=data["requester_email"],
        account_name=data["account_name"],
        account_id=data["account_id"],
        login_role=data["login_role"],
        reason=data["reason"],
        duration_minutes=int(data["duration_minutes"]),
        services=tuple(ServiceAccess.from_dict(s) for s in data["services"]),
        created_at=parse_iso(data["created_at"]),
        status=Status(data["status"]),
        version=int(data["version"]),
        approvers=tuple(data.get("approvers", ())),
        approvals=tuple(data.get("approvals", ())),
        approvals_required=int(data["approvals_required"]),
        decided_by=data.get("decided_by"),
        decided_at=moment("decided_at"),
        decision_reason=data.get("decision_reason"),
        starts_at=moment("starts_at"),
        expires_at=moment("expires_at"),
        timeout_at=moment("timeout_at"),
        next_reminder_at=moment("next_reminder_at"),
        scheduled_start=moment("scheduled_start"),
        policy_name=data.get("policy_name"),
        policy_document=data.get("policy_document"),
        failure_reason=data.get("failure_reason"),
        messages=tuple(MessageRef.from_dict(m) for m in data.get("messages", ())),
        requester_message=MessageRef.from_dict(requester_message) if requester_message else None,
        last_event_hash=data.get("last_event_hash", ""),
        permission_set=data.get("permission_set"),
        group=data.get("group"),
        **fields_from_extra(json.loads(data.get("extra") or "{}")),
    )


def event_from_item(item: dict[str, Any]) -> AuditEvent:
    data = _plain(item)
    return AuditEvent(
        request_id=data["pk"].removeprefix("REQ#"),
        seq=int(data["sk"].removeprefix(EVENT_PREFIX)),
        type=EventType(data["type"]),
        actor=data["actor"],
        at=parse_iso(data["at"]),
        status=Status(data["status"]),
        details=json.loads(data["details"]),
        prev_hash=data["prev_hash"],
        hash=data["hash"],
        sealed=json.loads(data.get("sealed") or "{}"),
    )


class DynamoStore:
    def __init__(
        self,
        clients: AwsClients,
        table: str,
        retention_days: int = 400,
        clock: Callable[[], datetime] = utcnow,
        outbox: Callable[[], bool] = lambda: False,
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        """``clock`` times the events; pass the service's clock so both tell the same time.

        ``outbox`` says, at each write, whether events also leave the table (an archive or
        event bus is configured): then each event is queued in the outbox as it is written.
        """
        self._clients = clients
        self.table = table
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self._outbox = outbox
        self._queued = queued

    # -- writes ---------------------------------------------------------------------------

    async def create(
        self, request: AccessRequest, actor: str, details: dict[str, Any]
    ) -> AccessRequest:
        first = request.with_changes(version=1)
        first_digests = sealed_digests(request_attributes(first))
        sealed: dict[str, str | None] = dict(first_digests)
        event = self._event(
            first, EventType.REQUESTED, actor, details, at=first.created_at, sealed=sealed
        )
        stored = first.with_changes(last_event_hash=event.hash)
        values = {
            key: value
            for key, value in (
                request_attributes(stored)
                | {STATE: state_digest(first_digests)}
                | message_attributes(stored.messages, stored.requester_message)
            ).items()
            if value is not None
        }
        put_request = {
            "Put": {
                "TableName": self.table,
                "Item": request_key(stored.id) | _typed(values),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        anchor = {
            "Update": {
                "TableName": self.table,
                "Key": anchor_key(stored),
                "UpdateExpression": "ADD request_ids :id",
                "ExpressionAttributeValues": {":id": {"SS": [stored.id]}},
            }
        }
        event_actions = self._put_event(event, stored)
        await self._transact(stored.id, [put_request, *event_actions, anchor])
        self._written(event_actions)
        return stored

    async def commit(
        self,
        current: AccessRequest,
        updated: AccessRequest,
        event_type: EventType,
        actor: str,
        details: dict[str, Any],
    ) -> AccessRequest:
        """One step of the request: ``current`` as stored at its version (the write is
        conditional on that version and status) → ``updated``, with its audit event.

        Only the attributes that differ from ``current`` (and the month index keys) are written:
        a transition changes a handful of the item's ~35 attributes, and a shorter update
        expression is less to send and to evaluate (moto's validation of one grows with the
        square of its clauses). That is right only if ``current`` is the request as stored,
        so the write is also conditional on the item's state digest (``STATE``) being that
        of ``current``: a caller holding a copy changed in memory gets a ConflictError with
        the stored request, never a silent mix of the two. An item written before the digest
        existed gains it at its first step.
        """
        written = updated.with_changes(version=current.version + 1)
        before = request_attributes(current)
        before_digests = sealed_digests(before)
        # The seals leave out last_event_hash, set below: these digests are the written item's.
        after_digests = sealed_digests(request_attributes(written))
        sealed = sealed_changes(before_digests, after_digests)
        event = self._event(
            written, event_type, actor, details, at=self._clock(), prev=current, sealed=sealed
        )
        written = written.with_changes(last_event_hash=event.hash)
        sets: list[str] = []
        removes: list[str] = []
        names = {"#version": "version", "#status": "status", "#state": STATE}
        values = _typed(
            {
                ":v": current.version,
                ":s": str(current.status),
                ":base": state_digest(before_digests),
            }
        )
        changed = {
            name: value
            for name, value in request_attributes(written).items()
            if name in MONTH_INDEX_KEYS or before.get(name) != value
        } | {STATE: state_digest(after_digests)}
        for index, (name, value) in enumerate(changed.items()):
            names[f"#a{index}"] = name
            if value is None:
                removes.append(f"#a{index}")
            else:
                sets.append(f"#a{index} = :a{index}")
                values[f":a{index}"] = _serializer.serialize(value)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        update_request = {
            "Update": {
                "TableName": self.table,
                "Key": request_key(current.id),
                "UpdateExpression": expression,
                "ConditionExpression": (
                    "#version = :v AND #status = :s "
                    "AND (#state = :base OR attribute_not_exists(#state))"
                ),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        event_actions = self._put_event(event, written)
        await self._transact(current.id, [update_request, *event_actions])
        self._written(event_actions)
        return written

    async def set_messages(
        self, request_id: str, messages: Sequence[MessageRef], requester_message: MessageRef | None
    ) -> None:
        attributes = message_attributes(messages, requester_message)
        expression = "SET messages = :m"
        values = {":m": _serializer.serialize(attributes["messages"])}
        if requester_message is None:
            expression += " REMOVE requester_message"
        else:
            expression += ", requester_message = :r"
            values[":r"] = _serializer.serialize(attributes["requester_message"])
        async with self._dynamodb() as dynamodb:
            try:
                await dynamodb.update_item(
                    TableName=self.table,
                    Key=request_key(request_id),
                    UpdateExpression=expression,
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise ConflictError(None) from exc
                raise

    # -- reads ----------------------------------------------------------------------------

    async def get(self, request_id: str) -> AccessRequest | None:
        async with self._dynamodb() as dynamodb:
            answer = await dynamodb.get_item(
                TableName=self.table, Key=request_key(request_id), ConsistentRead=True
            )
        item = answer.get("Item")
        return request_from_item(item) if item else None

    async def get_many(self, request_ids: Sequence[str]) -> list[AccessRequest]:
        """The requests of ``request_ids`` that exist, in that order, each read consistently:
        one BatchGetItem per 100 (a batch's card reads every one of its requests at once)."""
        found: dict[str, AccessRequest] = {}
        wanted = list(dict.fromkeys(request_ids))
        async with self._dynamodb() as dynamodb:
            for start in range(0, len(wanted), BATCH_GET_LIMIT):
                keys = [request_key(i) for i in wanted[start : start + BATCH_GET_LIMIT]]
                for attempt in range(BATCH_GET_ATTEMPTS):
                    answer = await dynamodb.batch_get_item(
                        RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                    )
                    for item in answer.get("Responses", {}).get(self.table, []):
                        request = request_from_item(item)
                        found[request.id] = request
                    keys = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                    if not keys:
                        break
                    await asyncio.sleep(0.05 * 2**attempt)
                else:
                    raise StoreUnavailable(f"DynamoDB table {self.table} left reads unanswered")
        return [found[i] for i in wanted if i in found]

    async def get_stored(self, request_id: str) -> StoredRequest | None:
        """The request with its item's attributes as stored (``get`` parses them away)."""
        async with self._dynamodb() as dynamodb:
            answer = await dynamodb.get_item(
                TableName=self.table, Key=request_key(request_id), ConsistentRead=True
            )
        item = answer.get("Item")
        if not item:
            return None
        request, attributes = request_from_item(item), _plain(item)
        return StoredRequest(
            request=request,
            attributes=attributes,
            expected_index_keys=index_keys(request),
            index_key_names=frozenset(INDEX_KEYS),
            sealed_digests=sealed_digests(attributes),
        )

    async def anchored(self, since: datetime | None, until: datetime) -> dict[str, str]:
        """Request ids the day anchors list, each with its day (``yyyy-mm-dd``).

        From the day of ``since`` to the day of ``until``; every anchor when ``since`` is None
        (a scan, like ``all_requests``).
        """
        if since is None:
            pages = [
                await self._items(
                    operation="scan",
                    FilterExpression="begins_with(pk, :a)",
                    ExpressionAttributeValues=_typed({":a": ANCHOR_PREFIX}),
                    ConsistentRead=True,
                )
            ]
        else:
            first, last = since.astimezone(UTC), until.astimezone(UTC)
            bounds = _typed({":a": f"DAY#{first:%Y-%m-%d}", ":b": f"DAY#{last:%Y-%m-%d}~"})
            pages = await asyncio.gather(
                *(
                    self._items(
                        KeyConditionExpression="pk = :k AND sk BETWEEN :a AND :b",
                        ExpressionAttributeValues=bounds
                        | _typed({":k": ANCHOR_PREFIX + month.removeprefix("MONTH#")}),
                        ConsistentRead=True,
                    )
                    for month in months_between(since, until)
                )
            )
        return {
            request_id: item["sk"].removeprefix("DAY#")[:10]
            for page in pages
            for item in map(_plain, page)
            for request_id in item.get("request_ids", ())
        }

    async def events(self, request_id: str) -> list[AuditEvent]:
        items = await self._items(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
            ExpressionAttributeValues=_typed({":pk": f"REQ#{request_id}", ":evt": EVENT_PREFIX}),
            ConsistentRead=True,
        )
        return [event_from_item(item) for item in items]

    async def for_user(self, user_id: str, limit: int = 50) -> list[AccessRequest]:
        items = await self._items(
            limit=limit,
            IndexName=USER_INDEX,
            KeyConditionExpression="user_pk = :u",
            ExpressionAttributeValues=_typed({":u": f"USER#{user_id}"}),
            ScanIndexForward=False,
        )
        return [request_from_item(item) for item in items]

    async def due(self, status: Status, before: datetime, limit: int = 100) -> list[AccessRequest]:
        """Due requests, oldest first, re-read consistently (the index lags the table)."""
        return await self._from_due_index(status, limit, f"{stamp(before)}~")

    async def due_reviews(self, before: datetime, limit: int = 100) -> list[AccessRequest]:
        """Ended grants whose usage review is due, oldest first, re-read consistently."""
        bound = f"{stamp(before)}~"
        candidates = await self._items(
            limit=limit,
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_pk = :d AND due_sk < :b",
            ExpressionAttributeValues=_typed({":d": USAGE_REVIEW_DUE, ":b": bound}),
        )
        fresh = await asyncio.gather(*(self.get(_plain(c)["id"]) for c in candidates))
        return [
            request
            for request in fresh
            if request is not None and _review_keys(request).get("due_sk", "~") < bound
        ]

    async def pending(self, limit: int = 500) -> list[AccessRequest]:
        """The due index's whole PENDING partition (every pending request has a due time)."""
        return await self._from_due_index(Status.PENDING, limit)

    async def _from_due_index(
        self, status: Status, limit: int, bound: str | None = None
    ) -> list[AccessRequest]:
        """Requests in ``status`` due before ``bound`` (None: all), re-read consistently."""
        condition = "due_pk = :d" + (" AND due_sk < :b" if bound else "")
        values = {":d": f"DUE#{status}"} | ({":b": bound} if bound else {})
        candidates = await self._items(
            limit=limit,
            IndexName=DUE_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=_typed(values),
        )
        fresh = await asyncio.gather(*(self.get(_plain(c)["id"]) for c in candidates))
        return [
            request
            for request in fresh
            if request is not None
            and request.status == status
            and (bound is None or _due_keys(request).get("due_sk", "~") < bound)
        ]

    async def created_between(
        self,
        since: datetime,
        until: datetime,
        *,
        user_id: str | None = None,
        account_id: str | None = None,
    ) -> list[AccessRequest]:
        """Requests created within [since, until], oldest first, read from one index.

        With ``user_id`` the user index is queried (and ``account_id`` then filters), with only
        ``account_id`` the account index, otherwise the month index, one partition per month.
        """
        bounds = _typed({":a": stamp(since), ":b": f"{stamp(until)}~"})
        if user_id is not None:
            queries = [(USER_INDEX, "user", f"USER#{user_id}")]
        elif account_id is not None:
            queries = [(ACCOUNT_INDEX, "account", f"ACCOUNT#{account_id}")]
        else:
            queries = [(MONTH_INDEX, "month", key) for key in months_between(since, until)]
        pages = await asyncio.gather(
            *(
                self._items(
                    IndexName=index,
                    KeyConditionExpression=f"{prefix}_pk = :k AND {prefix}_sk BETWEEN :a AND :b",
                    ExpressionAttributeValues=bounds | _typed({":k": key}),
                )
                for index, prefix, key in queries
            )
        )
        requests = [request_from_item(item) for page in pages for item in page]
        return [r for r in requests if account_id is None or r.account_id == account_id]

    async def all_requests(self) -> list[AccessRequest]:
        """Every request in the table (a full scan: only for verifying the whole trail)."""
        items = await self._items(
            operation="scan",
            FilterExpression="sk = :meta",
            ExpressionAttributeValues=_typed({":meta": META}),
        )
        requests = [request_from_item(item) for item in items]
        return sorted(requests, key=lambda r: (r.created_at, r.id))

    # -- table ----------------------------------------------------------------------------

    async def ensure_table(self) -> None:
        """Create the table (as Terraform would) if it is missing, wait for it, enable TTL."""
        async with self._dynamodb() as dynamodb:
            try:
                await dynamodb.create_table(**table_definition(self.table))
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise
            await dynamodb.get_waiter("table_exists").wait(
                TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
            ttl = await dynamodb.describe_time_to_live(TableName=self.table)
            if ttl["TimeToLiveDescription"].get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                await dynamodb.update_time_to_live(
                    TableName=self.table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
                )

    # -- helpers --------------------------------------------------------------------------

    def _event(
        self,
        request: AccessRequest,
        event_type: EventType,
        actor: str,
        details: dict[str, Any],
        *,
        at: datetime,
        sealed: dict[str, str | None],
        prev: AccessRequest | None = None,
    ) -> AuditEvent:
        event = AuditEvent(
            request_id=request.id,
            seq=request.version,
            type=event_type,
            actor=actor,
            at=at,
            status=request.status,
            details=json.loads(details_json(details)),
            sealed=sealed,
        )
        return seal(event, prev.last_event_hash if prev else "")

    def _put_event(self, event: AuditEvent, request: AccessRequest) -> list[dict[str, Any]]:
        """The actions writing ``event`` (``request`` as it left it): its item, and its outbox
        item when events leave the table."""
        expires = int((event.at + self._retention).timestamp())
        item = {
            "pk": f"REQ#{event.request_id}",
            "sk": f"{EVENT_PREFIX}{event.seq:06d}",
            "type": str(event.type),
            "actor": event.actor,
            "at": stamp(event.at),
            "status": str(event.status),
            "details": details_json(event.details),
            "prev_hash": event.prev_hash,
            "hash": event.hash,
            "sealed": details_json(event.sealed),
            "ttl": expires,
        }
        put = {
            "Put": {
                "TableName": self.table,
                "Item": _typed(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        return [put, outbox_put(self.table, event, request)] if self._outbox() else [put]

    def _written(self, event_actions: list[dict[str, Any]]) -> None:
        """After a transaction: tell the drainer if it queued an outbox item."""
        if len(event_actions) > 1:
            self._queued()

    async def _transact(self, request_id: str, actions: list[dict[str, Any]]) -> None:
        """Run one transaction; ConflictError with the stored request if a condition failed.

        The client request token makes botocore's own retries of this call idempotent; a new
        call (even with the same content) gets a new token, so it can never pass as a repeat.
        """
        for attempt in range(1, TRANSACTION_CONFLICT_ATTEMPTS + 1):
            async with self._dynamodb() as dynamodb:
                try:
                    await dynamodb.transact_write_items(
                        TransactItems=actions, ClientRequestToken=str(uuid.uuid4())
                    )
                    return
                except ClientError as exc:
                    if error_code(exc) != "TransactionCanceledException":
                        raise
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise ConflictError(await self.get(request_id))
            if "TransactionConflict" not in reasons or attempt == TRANSACTION_CONFLICT_ATTEMPTS:
                causes = ", ".join(str(r) for r in reasons)
                raise StoreUnavailable(f"DynamoDB table {self.table} cancelled a write ({causes})")
            await asyncio.sleep(0.05 * attempt)

    async def _items(
        self, limit: int | None = None, *, operation: str = "query", **params: Any
    ) -> list[dict[str, Any]]:
        """All items of a query or scan (or the first ``limit``), following LastEvaluatedKey."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        async with self._dynamodb() as dynamodb:
            while limit is None or len(items) < limit:
                page_params = dict(params, TableName=self.table)
                if limit is not None:
                    page_params["Limit"] = limit - len(items)
                if start:
                    page_params["ExclusiveStartKey"] = start
                page = await getattr(dynamodb, operation)(**page_params)
                items.extend(page.get("Items", []))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
        return items

    @asynccontextmanager
    async def _dynamodb(self) -> AsyncIterator[Any]:
        """The DynamoDB client; outages and refusals become StoreUnavailable."""
        try:
            async with self._clients.client("dynamodb") as dynamodb:
                yield dynamodb
        except (ClientError, BotoCoreError, OSError) as exc:
            if is_unavailable(exc) or error_code(exc) in REFUSED_CODES:
                detail = error_code(exc) or type(exc).__name__
                raise StoreUnavailable(
                    f"DynamoDB table {self.table} is unavailable ({detail}: {error_message(exc)})"
                ) from exc
            raise


def table_definition(table: str) -> dict[str, Any]:
    """CreateTable parameters; the Terraform module declares the same table."""
    indexes = {
        USER_INDEX: "user",
        ACCOUNT_INDEX: "account",
        DUE_INDEX: "due",
        MONTH_INDEX: "month",
    }
    key_names = ["pk", "sk"] + [f"{p}_{s}" for p in indexes.values() for s in ("pk", "sk")]
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in key_names],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{prefix}_pk", "KeyType": "HASH"},
                    {"AttributeName": f"{prefix}_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, prefix in indexes.items()
        ],
    }
