"""The audit hash chain: intact chains verify; edits, removals and reorderings are named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cloud_access_bot.domain.audit import (
    attribute_digests,
    event_hash,
    seal,
    sealed_changes,
    unsealed_edits,
    verify_chain,
)
from cloud_access_bot.domain.model import AuditEvent, EventType, Status

START = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def chain(count: int = 4) -> list[AuditEvent]:
    steps = [
        (EventType.REQUESTED, Status.PENDING),
        (EventType.APPROVED, Status.APPROVED),
        (EventType.GRANTED, Status.ACTIVE),
        (EventType.EXPIRED, Status.EXPIRED),
    ]
    events: list[AuditEvent] = []
    for seq, (kind, status) in enumerate(steps[:count], start=1):
        event = AuditEvent(
            request_id="0123456789ab",
            seq=seq,
            type=kind,
            actor=f"U{seq}",
            at=START + timedelta(minutes=seq),
            status=status,
            details={"step": seq, "ratio": 0.1 * seq, "tags": ["a", None, True]},
        )
        events.append(seal(event, events[-1].hash if events else ""))
    return events


def test_intact_chain_has_no_problems() -> None:
    events = chain()
    assert verify_chain(events, head=events[-1].hash) == []


def test_hash_covers_every_field() -> None:
    event = chain(1)[0]
    variants = [
        replace(event, request_id="ffffffffffff"),
        replace(event, seq=2),
        replace(event, type=EventType.DENIED),
        replace(event, actor="U9"),
        replace(event, at=event.at + timedelta(seconds=1)),
        replace(event, status=Status.DENIED),
        replace(event, details={"step": 2}),
    ]
    hashes = {event_hash("", v) for v in variants} | {event_hash("x", event)}
    assert event_hash("", event) not in hashes
    assert len(hashes) == len(variants) + 1


def test_hash_ignores_details_key_order() -> None:
    event = chain(1)[0]
    flipped = replace(event, details=dict(reversed(list(event.details.items()))))
    assert event_hash("", flipped) == event_hash("", event)


def test_edited_event_is_named() -> None:
    events = chain()
    events[1] = replace(events[1], actor="U666")
    assert verify_chain(events) == ["event seq 2 was edited (its hash does not match)"]


def test_edit_with_recomputed_hash_breaks_the_next_link() -> None:
    events = chain()
    events[1] = seal(replace(events[1], actor="U666"), events[0].hash)
    problems = verify_chain(events)
    assert len(problems) == 1
    assert problems[0].startswith("event seq 3 does not follow seq 2")


def test_removed_event_is_named() -> None:
    events = chain()
    del events[1]
    assert verify_chain(events) == ["event seq 2 removed"]


def test_removed_last_event_needs_the_head() -> None:
    events = chain()
    head = events[-1].hash
    assert verify_chain(events[:-1]) == []
    assert verify_chain(events[:-1], head=head) == [
        "events after seq 3 removed (the request's last hash does not match)"
    ]


def test_reordered_events_are_named() -> None:
    events = chain()
    events[1], events[2] = events[2], events[1]
    assert verify_chain(events) == ["event seq 2 out of order (stored after seq 3)"]


def test_first_event_must_start_the_chain() -> None:
    events = chain()
    assert verify_chain(events[1:]) == ["event seq 1 removed"]


def test_chain_must_start_from_nothing() -> None:
    first = seal(chain(1)[0], "f" * 64)
    assert verify_chain([first]) == ["event seq 1 does not start a chain (its prev_hash is set)"]


def test_a_step_seals_only_what_it_changed() -> None:
    before = attribute_digests({"status": "PENDING", "reason": "x", "decided_by": None})
    after = attribute_digests({"status": "APPROVED", "reason": "x", "decided_by": "U2"})
    assert sealed_changes(before, after) == {
        "status": after["status"],
        "decided_by": after["decided_by"],
    }
    assert sealed_changes(after, before) == {"status": before["status"], "decided_by": None}


def sealed_chain(*states: dict[str, object]) -> list[AuditEvent]:
    """Events whose seals write each state in turn (the first one completely)."""
    events: list[AuditEvent] = []
    previous: dict[str, str] = {}
    for event in chain(len(states)):
        current = attribute_digests(states[event.seq - 1])
        events.append(replace(event, sealed=sealed_changes(previous, current)))
        previous = current
    return events


def test_edits_of_the_item_are_named_with_the_event_that_wrote_the_field() -> None:
    events = sealed_chain({"a": 1, "b": "x"}, {"a": 1, "b": "y", "c": [1]}, {"a": 1, "b": "y"})
    assert unsealed_edits(events, attribute_digests({"a": 1, "b": "y"})) == []
    assert unsealed_edits(events, attribute_digests({"a": 2, "b": "y", "c": [1], "d": 0})) == [
        "field a was edited (it differs from what event seq 1 (REQUESTED) wrote)",
        "field c was added after event seq 3 (GRANTED) removed it",
        "field d was added outside the bot (no event wrote it)",
    ]
    assert unsealed_edits(events, attribute_digests({"a": 1})) == [
        "field b was removed (last written by event seq 2 (APPROVED))"
    ]


def test_a_chain_begun_before_seals_checks_only_what_later_steps_sealed() -> None:
    events = sealed_chain({"a": 1}, {"a": 1, "b": "y"})
    events[0] = replace(events[0], sealed={})
    assert unsealed_edits(events, attribute_digests({"a": 5, "b": "y", "z": 1})) == []
    assert unsealed_edits(events, attribute_digests({"a": 5, "b": "n"})) == [
        "field b was edited (it differs from what event seq 2 (APPROVED) wrote)"
    ]


def test_hash_covers_the_seals() -> None:
    event = sealed_chain({"a": 1})[0]
    assert event_hash("", event) != event_hash("", replace(event, sealed={"a": None}))
    assert event_hash("", replace(event, sealed={})) == event_hash("", chain(1)[0])
