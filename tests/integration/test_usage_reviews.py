"""The usage review's schedule against the real table (moto's server) and CloudTrail played by
tests/cloudtrail.py: due only after its time, postponed while CloudTrail refuses, recorded as
not reviewed after a day of refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cloud_access_bot.audit.review import GIVE_UP, RETRY, UsageReviews
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.cloudtrail import CloudTrailLookup
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.model import AccessRequest
from tests.cloudtrail import Trail, record
from tests.integration.test_activity import CONFIG, START, granted_and_revoked, store

__all__ = ["store"]  # the table fixture of test_activity

DUE = START + timedelta(minutes=45)  # 15 minutes after the revoke


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[str, RightSizing | None, dict[str, Any]]] = []

    async def __call__(
        self, request: AccessRequest, review: RightSizing | None, details: dict[str, Any]
    ) -> bool:
        self.calls.append((request.id, review, details))
        return True


async def test_a_review_is_due_only_after_its_time_and_compares_the_grant(
    store: DynamoStore, clients: AwsClients, trail: Trail
) -> None:
    await granted_and_revoked(store, "a1b2c3d4e5f6", review_at=DUE)
    trail.records = [record(START + timedelta(minutes=1), "s3", "GetObject")]
    recorded = Recorded()
    reviews = UsageReviews(store, CloudTrailLookup(clients), lambda: CONFIG, recorded)

    assert await reviews.run(DUE - timedelta(seconds=1)) == 0 and trail.calls == 0
    assert await reviews.run(DUE) == 1

    ((request_id, review, details),) = recorded.calls
    assert request_id == "a1b2c3d4e5f6" and review is not None
    assert details["used"] == ["s3:GetObject"] and details["smaller_set"] == ["s3:GetObject"]
    assert details["summary"].startswith("used 1 of 7 actions; never used s3:ListBucket")


async def test_a_refused_review_waits_then_is_recorded_as_not_reviewed_after_a_day(
    store: DynamoStore, clients: AwsClients, trail: Trail
) -> None:
    await granted_and_revoked(store, "a1b2c3d4e5f6", review_at=DUE)
    trail.denied = True
    recorded = Recorded()
    reviews = UsageReviews(store, CloudTrailLookup(clients), lambda: CONFIG, recorded)

    assert await reviews.run(DUE) == 0
    asked = trail.calls
    assert asked > 0 and recorded.calls == []
    assert await reviews.run(DUE + RETRY / 2) == 0 and trail.calls == asked  # not asked again
    assert await reviews.run(DUE + RETRY) == 0 and trail.calls > asked  # asked again
    assert await reviews.run(DUE + GIVE_UP) == 1

    ((_, review, details),) = recorded.calls
    assert review is None and details["reviewed"] is False
    assert "CloudTrail in account 111111111111: access denied" in details["reason"]
