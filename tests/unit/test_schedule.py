"""Scheduled starts: which starts may be asked for, the window fixed at approval, when the
sweeper grants, who may cancel or revoke before the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud_access_bot.domain.approval import Outcome, decide_cancel, decide_revoke
from cloud_access_bot.domain.model import TRANSITIONS, AccessRequest, Status
from cloud_access_bot.domain.schedule import (
    PAST_GRACE,
    awaiting_start,
    due_moment,
    ended_before_start,
    is_scheduled,
    ready_to_grant,
    start_problem,
    window,
)
from cloud_access_bot.slack.schedule_views import read_start
from tests.factories import CREATED, access_request

NOW = CREATED + timedelta(hours=1)
STUCK = timedelta(seconds=30)


def scheduled_at(start: datetime, *, approved_at: datetime = NOW) -> AccessRequest:
    """Alice's hour-long request asked to start at ``start``, approved at ``approved_at``."""
    asked = access_request(scheduled_start=start)
    begins, ends = window(asked, approved_at)
    return asked.with_changes(
        status=Status.APPROVED, decided_at=approved_at, starts_at=begins, expires_at=ends
    )


def test_no_start_asked_is_no_problem_even_when_scheduling_is_off() -> None:
    assert start_problem(None, NOW, 0) is None


def test_a_start_within_the_horizon_is_accepted_and_the_grace_covers_form_filling() -> None:
    assert start_problem(NOW + timedelta(hours=168), NOW, 168) is None
    assert start_problem(NOW - PAST_GRACE, NOW, 168) is None


def test_a_start_beyond_the_horizon_names_the_field_and_the_limit() -> None:
    problem = start_problem(NOW + timedelta(hours=24, minutes=1), NOW, 24)
    assert problem is not None
    assert problem.startswith("Start at 2025-03-05 11:01 UTC is too far ahead")
    assert "at most 24 hours from now (before 2025-03-05 11:00 UTC)" in problem


def test_a_start_in_the_past_beyond_the_grace_is_refused() -> None:
    problem = start_problem(NOW - PAST_GRACE - timedelta(seconds=1), NOW, 168)
    assert problem is not None and "is in the past" in problem and "Start at" in problem


def test_any_start_is_refused_when_scheduling_is_off() -> None:
    problem = start_problem(NOW + timedelta(minutes=5), NOW, 0)
    assert problem is not None and "turned off" in problem


def test_approved_before_its_start_the_window_is_start_to_start_plus_duration() -> None:
    start = NOW + timedelta(hours=2, microseconds=5)
    begins, ends = window(access_request(scheduled_start=start), NOW)
    assert begins == start.replace(microsecond=0)
    assert ends == begins + timedelta(minutes=60)


def test_approved_after_its_start_the_window_starts_at_approval_for_the_full_duration() -> None:
    late = NOW + timedelta(minutes=30)
    begins, ends = window(access_request(scheduled_start=NOW), late)
    assert (begins, ends) == (late, late + timedelta(minutes=60))


def test_without_a_start_the_window_is_the_usual_one() -> None:
    request = access_request()
    assert window(request, NOW) == request.window(NOW)


def test_scheduled_only_when_the_window_starts_after_the_approval() -> None:
    assert is_scheduled(scheduled_at(NOW + timedelta(hours=1)))
    assert not is_scheduled(scheduled_at(NOW - timedelta(minutes=1)))
    assert not is_scheduled(
        scheduled_at(NOW + timedelta(hours=1)).with_changes(status=Status.ACTIVE)
    )
    assert not is_scheduled(access_request(scheduled_start=NOW + timedelta(hours=1)))


def test_the_sweeper_grants_a_scheduled_request_at_its_start_not_before() -> None:
    start = NOW + timedelta(hours=1)
    request = scheduled_at(start)
    assert not ready_to_grant(request, start - timedelta(seconds=1), STUCK)
    assert ready_to_grant(request, start, STUCK)
    assert awaiting_start(request, start - timedelta(seconds=1))
    assert not awaiting_start(request, start)


def test_an_unscheduled_approval_is_finished_by_the_sweeper_only_once_it_is_stuck() -> None:
    request = scheduled_at(NOW - timedelta(minutes=1))
    assert not ready_to_grant(request, NOW + STUCK - timedelta(seconds=1), STUCK)
    assert ready_to_grant(request, NOW + STUCK, STUCK)


def test_the_due_index_holds_a_scheduled_request_at_its_start_and_others_at_approval() -> None:
    start = NOW + timedelta(hours=3)
    assert due_moment(scheduled_at(start)) == start
    assert due_moment(scheduled_at(NOW - timedelta(hours=1))) == NOW


def test_cancel_and_revoke_before_the_start_are_allowed_and_refused_once_it_began() -> None:
    start = NOW + timedelta(hours=1)
    request = scheduled_at(start)
    before, after = start - timedelta(minutes=1), start + timedelta(seconds=1)
    assert decide_cancel(request, "U1", now=before).outcome is Outcome.APPROVE
    assert decide_cancel(request, "U2", now=before).outcome is Outcome.REFUSE
    assert decide_cancel(request, "U1", now=after).outcome is Outcome.REFUSE
    revoke = decide_revoke(request, "UBOB", clicker_is_approver=True, now=before)
    assert revoke.outcome is Outcome.APPROVE
    outsider = decide_revoke(request, "UEVE", clicker_is_approver=False, now=before)
    assert outsider.outcome is Outcome.REFUSE
    assert decide_revoke(request, "UBOB", clicker_is_approver=True, now=after).outcome is (
        Outcome.REFUSE
    )
    assert {Status.CANCELLED, Status.REVOKED} <= TRANSITIONS[Status.APPROVED]


def test_ended_before_start_only_when_cancelled_or_revoked_while_the_start_was_ahead() -> None:
    start = NOW + timedelta(hours=1)
    early = timedelta(minutes=5)
    revoked = scheduled_at(start).with_changes(status=Status.REVOKED, decided_at=NOW + early)
    assert ended_before_start(revoked)
    assert ended_before_start(revoked.with_changes(status=Status.CANCELLED))
    # A grant revoked while active keeps its approval time, which is not before its start.
    active_then_revoked = scheduled_at(NOW - timedelta(minutes=1)).with_changes(
        status=Status.REVOKED
    )
    assert not ended_before_start(active_then_revoked)


def test_an_unscheduled_approval_cannot_be_cancelled_while_it_is_being_granted() -> None:
    request = scheduled_at(NOW - timedelta(minutes=1))
    assert decide_cancel(request, "U1", now=NOW).outcome is Outcome.REFUSE


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (None, (None, None)),
        (1_741_082_400, (datetime(2025, 3, 4, 10, 0, tzinfo=UTC), None)),
        ("1741082400", (None, "Start at must be a date and time picked in the form.")),
        (True, (None, "Start at must be a date and time picked in the form.")),
        (10**20, (None, "Start at must be a date and time picked in the form.")),
    ],
)
def test_a_forged_start_value_is_refused_never_raised(sent: object, expected: object) -> None:
    values = {"start": {"start_at_picker": {"type": "datetimepicker", "selected_date_time": sent}}}
    assert read_start(values) == expected
