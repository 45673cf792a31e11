"""The outbox: audit events waiting to leave the table (the drainer delivers them: aws.drainer).

Every state change's transaction (aws.store ``create``/``commit``) also puts an outbox item
``pk=OUTBOX``, ``sk=<request id>#<seq:06d>`` holding the event's archive record
(domain.archive). One partition: the bot writes a few events a second at most, far below a
partition's 1,000 writes a second, and a drain pass is then one query. Nothing is written to
S3 or EventBridge inside the transaction, so a crash at any point leaves either no change at
all or a change with its outbox item, which a later drain delivers: at least once, never
lost. Outbox items have no TTL: they stay until delivered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cloud_access_bot.domain import archive
from cloud_access_bot.domain.model import AccessRequest, AuditEvent

OUTBOX_PK = "OUTBOX"


def outbox_put(table: str, event: AuditEvent, request: AccessRequest) -> dict[str, Any]:
    """The TransactWriteItems action queueing ``event`` (``request`` as the event left it)."""
    return {
        "Put": {
            "TableName": table,
            "Item": {
                "pk": {"S": OUTBOX_PK},
                "sk": {"S": archive.event_id(event.request_id, event.seq)},
                "record": {"S": json.dumps(archive.record(event, request), sort_keys=True)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def pending_from_item(item: dict[str, Any]) -> Pending:
    return Pending(
        key={"pk": item["pk"], "sk": item["sk"]},
        record=json.loads(item["record"]["S"]),
        archived=item.get("archived", {}).get("BOOL", False),
    )


@dataclass(frozen=True)
class Pending:
    """One outbox item: its key, its record, and whether S3 already has it."""

    key: dict[str, Any]
    record: archive.Record
    archived: bool

    @property
    def request_id(self) -> str:
        return str(self.record["request_id"])


async def read_outbox(dynamodb: Any, table: str, limit: int | None = None) -> list[Pending]:
    """The first ``limit`` items (all when None), in request then seq order."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": OUTBOX_PK}},
        "ConsistentRead": True,
    }
    while limit is None or len(items) < limit:
        if limit is not None:
            params["Limit"] = limit - len(items)
        page = await dynamodb.query(**params)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [pending_from_item(item) for item in items]
