"""An extension's steps on its request: asked, approved one by one, then written or refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud_access_bot.domain import extension
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess, Status
from cloud_access_bot.domain.reminders import next_reminder

START = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def active() -> AccessRequest:
    return AccessRequest(
        id="0123456789ab",
        requester_id="UREQ",
        requester_email="req@example.com",
        account_name="dev",
        account_id="000000000001",
        login_role="SSO-Devops",
        reason="debug the export job",
        duration_minutes=60,
        services=(ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::b/*",)),),
        created_at=START,
        status=Status.ACTIVE,
        starts_at=START,
        expires_at=START + timedelta(minutes=60),
    )


def test_approvals_gather_on_the_waiting_extension_and_go_when_it_is_written() -> None:
    waiting = extension.approved_by(
        extension.approved_by(extension.asked(active(), 30), "UA"), "UB"
    )
    assert (waiting.pending_extension, waiting.extension_approvals) == (30, ("UA", "UB"))

    longer = extension.extended(waiting, 30)

    assert longer.expires_at == START + timedelta(minutes=90)
    assert longer.duration_minutes == 90
    assert (longer.pending_extension, longer.extension_approvals) == (0, ())
    assert longer.starts_at == START


def test_asking_again_after_a_refusal_starts_with_no_approvals() -> None:
    refused = extension.cleared(extension.approved_by(extension.asked(active(), 30), "UA"))
    assert refused == active()
    assert extension.asked(refused, 15).extension_approvals == ()


def test_the_next_reminder_is_the_first_scheduled_moment_after_now() -> None:
    schedule = [240, 60, 120]
    assert next_reminder(START, START, schedule) == START + timedelta(minutes=60)
    assert next_reminder(START, START + timedelta(minutes=60), schedule) == START + timedelta(
        minutes=120
    )
    assert next_reminder(START, START + timedelta(minutes=240), schedule) is None
