"""A hash chain over a request's audit events, so edits, removals and reorderings show.

Each event's hash is sha256 over a canonical JSON of its fields and the previous event's hash
(``""`` for the first). The request keeps the hash of its newest event (``last_event_hash``),
which also exposes events removed from the end. This detects tampering by anyone who cannot
also rewrite every later hash and the request itself; it is evidence, not access control.

The request item itself is covered by *sealing*: every event carries ``sealed``, the digest of
each request attribute the step wrote (``None`` for one it removed). Folding the chain gives the
digest every attribute must have now, so an edit of the request item names the attribute
changed and the event that last wrote it. Events written before sealing carry none; their
requests are checked only for what later events sealed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cloud_access_bot.domain.model import AuditEvent, iso


def details_json(details: Mapping[str, Any]) -> str:
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
    if event.sealed:  # absent from events written before sealing: their hashes stay valid
        fields["sealed"] = dict(event.sealed)
    return hashlib.sha256(details_json(fields).encode()).hexdigest()


def seal(event: AuditEvent, prev_hash: str) -> AuditEvent:
    """The event linked after ``prev_hash``, with its hash set."""
    return replace(event, prev_hash=prev_hash, hash=event_hash(prev_hash, event))


def attribute_digest(name: str, value: Any) -> str:
    """128-bit sha256 digest of one request attribute (its name and canonical JSON value)."""
    return hashlib.sha256(details_json({"name": name, "value": value}).encode()).hexdigest()[:32]


def attribute_digests(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The digest of every attribute present (``None`` values are absent attributes)."""
    return {
        name: attribute_digest(name, value)
        for name, value in attributes.items()
        if value is not None
    }


def sealed_changes(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str | None]:
    """What one step wrote: the digest of each attribute added or changed, None if removed.

    Only changes are sealed, so a value edited behind the bot's back is not laundered into the
    chain by a later step that merely carries it along.
    """
    changed: dict[str, str | None] = {n: d for n, d in after.items() if before.get(n) != d}
    changed.update({name: None for name in before if name not in after})
    return changed


@dataclass(frozen=True)
class SealedBy:
    """The digest an attribute must have, and the event that wrote it."""

    digest: str | None
    event: AuditEvent


def sealed_state(events: Sequence[AuditEvent]) -> dict[str, SealedBy]:
    """Each attribute as the chain last sealed it (events in chain order)."""
    state: dict[str, SealedBy] = {}
    for event in events:
        state.update({name: SealedBy(digest, event) for name, digest in event.sealed.items()})
    return state


def unsealed_edits(events: Sequence[AuditEvent], stored: Mapping[str, str]) -> list[str]:
    """Attributes of the request item that differ from what its events sealed.

    ``events`` is the whole chain from seq 1; ``stored`` the digests of the item as read. When
    the first event carries no seals (written before sealing), only attributes a later event
    sealed can be checked, and an attribute no event sealed is not reported.
    """
    state = sealed_state(events)
    complete = bool(events and events[0].seq == 1 and events[0].sealed)
    problems = []
    for name in sorted(set(state) | set(stored)):
        sealed = state.get(name)
        if sealed is None:
            if complete:
                problems.append(f"field {name} was added outside the bot (no event wrote it)")
            continue
        if stored.get(name) == sealed.digest:
            continue
        by = f"event seq {sealed.event.seq} ({sealed.event.type})"
        if name not in stored:
            problems.append(f"field {name} was removed (last written by {by})")
        elif sealed.digest is None:
            problems.append(f"field {name} was added after {by} removed it")
        else:
            problems.append(f"field {name} was edited (it differs from what {by} wrote)")
    return problems


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
