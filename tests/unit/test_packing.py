"""Packing grants into shared policy documents: finding, replacing and removing a grant, room
planning, and how many typical grants a shared login role holds packed vs one policy each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.packing import (
    IDLE_STATEMENT,
    ROLE_INLINE_LIMIT,
    compact,
    grant_ends,
    holds_grant,
    is_bot_policy,
    managed_document,
    overflow_name,
    overflow_number,
    plan_managed_grant,
    plan_overflow_grant,
    plan_role_grant,
    single_grant_id,
    statements,
    with_grant,
    without_grant,
)
from cloud_access_bot.domain.policy import build_grant_policy, merge_statements, policy_size
from cloud_access_bot_sandbox.capacity import one_policy_each

START = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
PREFIX = "cloud-access-bot-"
#: The issue's typical grant: 1 service, 3 actions, 2 resources.
TYPICAL = (
    ServiceAccess(
        "s3",
        ("s3:GetObject", "s3:PutObject", "s3:ListBucket"),
        ("arn:aws:s3:::logs", "arn:aws:s3:::data"),
    ),
)
FOREIGN = {"Version": "2012-10-17", "Statement": [{"Sid": "Team", "Effect": "Allow"}]}


def grant(number: int, minutes: int = 60) -> dict[str, Any]:
    return compact(
        build_grant_policy(
            TYPICAL,
            userid=f"AROAEXAMPLEROLEID1234:user{number:02d}@example.com",
            not_before=START,
            not_after=START + timedelta(minutes=minutes),
            sid=f"{number:012x}",
        )
    )


def test_bot_policy_names() -> None:
    assert is_bot_policy("cloud-access-bot-packed-3", PREFIX)
    assert single_grant_id("cloud-access-bot-0123456789ab", PREFIX) == "0123456789ab"
    assert not is_bot_policy("cloud-access-bot-notes", PREFIX)
    assert not is_bot_policy("team-0123456789ab", PREFIX)


def test_compact_writes_single_items_as_strings_and_keeps_the_rest() -> None:
    document = grant(1)
    listing = [s for s in statements(document) if s["Action"] == "s3:ListBucket"]
    assert listing and isinstance(listing[0]["Resource"], list)
    assert policy_size(document) == policy_size(one_policy(1)) - 2


def test_with_and_without_a_grant_touch_only_its_statements() -> None:
    shared = with_grant(with_grant(FOREIGN, grant(1)), grant(2))
    assert holds_grant(shared, grant(1)) and holds_grant(shared, grant(2))
    assert statements(shared)[0] == FOREIGN["Statement"][0]

    longer = with_grant(shared, grant(1, minutes=120))
    assert len(statements(longer)) == len(statements(shared))
    assert grant_ends([longer])[f"{1:012x}"] == START + timedelta(minutes=120)

    left, removed = without_grant(longer, f"{1:012x}")
    assert removed == len(statements(grant(1)))
    assert statements(left) == statements(with_grant(FOREIGN, grant(2)))
    assert without_grant(left, f"{1:012x}")[1] == 0


def test_managed_policy_without_grants_keeps_a_statement_granting_nothing() -> None:
    empty, _ = without_grant(grant(1), f"{1:012x}")
    assert managed_document(empty)["Statement"] == [IDLE_STATEMENT]
    assert statements(with_grant(managed_document(empty), grant(2))) == statements(grant(2))


def test_role_plan_reuses_the_packed_policy_and_never_writes_foreign_ones() -> None:
    policies = {"team": FOREIGN, "cloud-access-bot-packed-2": grant(1)}
    plan = plan_role_grant(policies, PREFIX, grant(2), f"{2:012x}")
    assert plan.target == "cloud-access-bot-packed-2"
    assert [name for name, _ in plan.writes] == ["cloud-access-bot-packed-2"]
    assert plan.room.left == ROLE_INLINE_LIMIT - policy_size(FOREIGN) - policy_size(grant(1))


def test_role_plan_moves_a_one_policy_grant_into_the_packed_policy() -> None:
    old = {"cloud-access-bot-000000000001": grant(1), "cloud-access-bot-packed-1": grant(2)}
    plan = plan_role_grant(old, PREFIX, grant(1, minutes=90), f"{1:012x}")
    assert plan.writes[0][0] == "cloud-access-bot-packed-1"
    assert plan.writes[1] == ("cloud-access-bot-000000000001", None)
    assert plan.room.fits


def test_role_plan_removes_old_statements_first_when_both_would_not_fit() -> None:
    big = {"Version": "2012-10-17", "Statement": [{"Sid": "x" * 9_000}]}
    old = {"team": big, "cloud-access-bot-000000000001": grant(1)}
    plan = plan_role_grant(old, PREFIX, grant(1, minutes=90), f"{1:012x}")
    assert plan.room.fits
    assert [name for name, _ in plan.writes] == [
        "cloud-access-bot-000000000001",
        "cloud-access-bot-packed-1",
    ]


def one_policy(number: int) -> dict[str, Any]:
    """A typical grant as written before packing: one uncompacted policy per grant."""
    return build_grant_policy(
        TYPICAL,
        userid=f"AROAEXAMPLEROLEID1234:user{number:02d}@example.com",
        not_before=START,
        not_after=START + timedelta(minutes=60),
        sid=f"{number:012x}",
    )


def concurrent_grants(limit: int, merged: bool = False) -> int:
    """How many typical grants one packed policy of ``limit`` chars holds."""
    document: dict[str, Any] | None = None
    for n in range(1, 100):
        typical = compact(merge_statements(grant(n))) if merged else grant(n)
        written, room = plan_managed_grant(document, typical, limit)
        if not room.fits:
            return n - 1
        document = written
    raise AssertionError("never full")


def test_packing_holds_more_grants_per_shared_role_than_one_policy_per_grant() -> None:
    single = one_policy_each(one_policy(n) for n in range(1, 100))
    packed = concurrent_grants(ROLE_INLINE_LIMIT)
    merged = concurrent_grants(ROLE_INLINE_LIMIT, merged=True)
    # A typical grant is 732 chars alone; packed it adds 692 (the 39-char envelope and 2 chars
    # of list brackets are paid once). Its two statements each repeat a 203-char condition:
    # merged into one statement it adds 411.
    assert (policy_size(one_policy(1)), policy_size(grant(1))) == (732, 730)
    assert (single, packed, merged) == (13, 14, 24)
    assert concurrent_grants(6_144, merged=True) == 14


def test_one_policy_each_counts_until_the_next_would_not_fit() -> None:
    assert one_policy_each([one_policy(1)] * 14, limit=13 * 732) == 13
    assert one_policy_each([one_policy(1)] * 14, limit=13 * 732 - 1) == 12


def test_a_full_plan_reports_room_and_need() -> None:
    assert concurrent_grants(6_144) == 8
    document: dict[str, Any] | None = None
    for n in range(1, 9):
        document, _ = plan_managed_grant(document, grant(n))
    assert document is not None
    _, room = plan_managed_grant(document, grant(9))
    assert (room.needed, room.left) == (692, 6_144 - policy_size(document))
    assert not room.fits


def test_overflow_names_belong_to_one_role() -> None:
    name = overflow_name(PREFIX, "Dev", 3)
    assert name == "cloud-access-bot-overflow-Dev-3"
    assert overflow_number(name, PREFIX, "Dev") == 3
    assert overflow_number(name, PREFIX, "Ops") is None
    assert overflow_number("cloud-access-bot-overflow-Dev-x", PREFIX, "Dev") is None


def full_inline() -> dict[str, Any]:
    """Inline policies with no room left for a typical grant."""
    return {"team": {"Version": "2012-10-17", "Statement": [{"Sid": "x" * 10_000}]}}


def test_overflow_plan_prefers_inline_then_existing_then_new_policies() -> None:
    inline = {"cloud-access-bot-packed-1": grant(1)}
    plan = plan_overflow_grant(inline, {}, PREFIX, "Dev", grant(2), f"{2:012x}", free_slots=1)
    assert (plan.fits, plan.target, plan.overflow, plan.managed) == (
        True,
        "cloud-access-bot-packed-1",
        None,
        (),
    )

    existing = {2: grant(1)}
    plan = plan_overflow_grant(
        full_inline(), existing, PREFIX, "Dev", grant(2), f"{2:012x}", free_slots=1
    )
    assert (plan.target, plan.overflow, plan.inline) == ("cloud-access-bot-overflow-Dev-2", 2, ())
    assert plan.managed == ((2, with_grant(grant(1), grant(2))),)

    full = {2: grant(1)}
    plan = plan_overflow_grant(
        full_inline(), full, PREFIX, "Dev", grant(2), f"{2:012x}", free_slots=1, managed_limit=800
    )
    assert (plan.target, plan.managed) == ("cloud-access-bot-overflow-Dev-1", ((1, grant(2)),))

    plan = plan_overflow_grant(
        full_inline(), full, PREFIX, "Dev", grant(2), f"{2:012x}", free_slots=0, managed_limit=800
    )
    assert not plan.fits and not plan.room.fits and plan.managed == plan.inline == ()


def test_overflow_plan_rewrites_a_grant_where_it_is_and_removes_it_elsewhere() -> None:
    request_id = f"{2:012x}"
    inline = {"cloud-access-bot-packed-1": grant(1), "cloud-access-bot-000000000002": grant(2)}
    overflow = {1: with_grant(grant(3), grant(2)), 2: grant(4)}
    extended = grant(2, minutes=90)
    plan = plan_overflow_grant(inline, overflow, PREFIX, "Dev", extended, request_id, free_slots=3)
    assert (plan.target, plan.overflow) == ("cloud-access-bot-overflow-Dev-1", 1)
    assert plan.managed == ((1, with_grant(grant(3), extended)),)
    assert plan.inline == (("cloud-access-bot-000000000002", None),)

    # Moved inline (the holder is too small now): removed from the overflow policy after.
    plan = plan_overflow_grant(
        {}, {1: grant(2)}, PREFIX, "Dev", extended, request_id, free_slots=0, managed_limit=500
    )
    assert plan.target == "cloud-access-bot-packed-1"
    assert [name for name, _ in plan.inline] == ["cloud-access-bot-packed-1"]
    assert plan.managed == ((1, None),)
