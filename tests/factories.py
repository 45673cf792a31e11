"""The one AccessRequest the tests start from; each test changes only the fields it is about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cloud_access_bot.domain.model import AccessRequest, ServiceAccess

CREATED = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
#: s3:GetObject on the logs bucket.
READ_LOGS = (ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::logs",)),)


def access_request(**changes: Any) -> AccessRequest:
    """Alice's PENDING request for an hour of s3:GetObject on the logs bucket, as Developer in
    account ``dev`` (111111111111), made at CREATED; ``changes`` replace any field."""
    return AccessRequest(
        id="0123456789ab",
        requester_id="U1",
        requester_email="alice@example.com",
        account_name="dev",
        account_id="111111111111",
        login_role="Developer",
        reason="debug",
        duration_minutes=60,
        services=READ_LOGS,
        created_at=CREATED,
    ).with_changes(**changes)
