"""A hash chain over a request's audit events, so edits, removals and reorderings show.

Each event's hash is sha256 over a canonical JSON of its fields and the previous event's hash
(``""`` for the first). The request keeps the hash of its newest event (``last_event_hash``),
which also exposes events removed from the end. This detects tampering by anyone who cannot
also rewrite every later hash and the request itself; it is evidence, not access control.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cloud_access_bot.domain.model import AuditEvent, iso


def details_json(details: dict[str, Any]) -> str:
    """The canonical JSON text of event details (also how the store keeps them)."""
    return json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    """sha256 hex of the event's fields (not its own ``hash``) chained to ``prev_hash``."""
    fields = {
        "request_id": event.request_id,
        "seq": event.seq,
        "type": str(event.type),
        "actor": event.actor,
        "at": iso(event.at),
        "status": str(event.status),
        "details": json.loads(details_json(event.details)),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(details_json(fields).encode()).hexdigest()


def seal(event: AuditEvent, prev_hash: str) -> AuditEvent:
    """The event linked after ``prev_hash``, with its hash set."""
    return replace(event, prev_hash=prev_hash, hash=event_hash(prev_hash, event))


def verify_chain(events: Sequence[AuditEvent], head: str | None = None) -> list[str]:
    """Problems found in a request's events, in stored order; empty when the chain is intact.

    ``head`` is the request's ``last_event_hash``: pass it to also detect events removed from
    the end of the chain.
    """
    problems: list[str] = []
    seqs = [event.seq for event in events]
    missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
    problems.extend(f"event seq {seq} removed" for seq in missing)
    previous: AuditEvent | None = None
    for event in events:
        if previous and event.seq <= previous.seq:
            problems.append(f"event seq {event.seq} out of order (stored after seq {previous.seq})")
        elif previous and event.request_id != previous.request_id:
            problems.append(f"event seq {event.seq} belongs to request {event.request_id}")
        elif previous is None and event.seq == 1 and event.prev_hash:
            problems.append("event seq 1 does not start a chain (its prev_hash is set)")
        elif previous and event.seq == previous.seq + 1 and event.prev_hash != previous.hash:
            problems.append(
                f"event seq {event.seq} does not follow seq {previous.seq}: one of them was edited"
            )
        if event_hash(event.prev_hash, event) != event.hash:
            problems.append(f"event seq {event.seq} was edited (its hash does not match)")
        previous = event
    if head is not None and (previous.hash if previous else "") != head:
        after = f"after seq {previous.seq}" if previous else "from the start"
        problems.append(f"events {after} removed (the request's last hash does not match)")
    return problems
