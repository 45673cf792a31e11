"""Write access is decided by the access levels recorded on the request, and what cannot be
classified counts as write."""

from __future__ import annotations

from cloud_access_bot.domain.archive import record
from cloud_access_bot.domain.model import AuditEvent, EventType, Status
from cloud_access_bot.domain.write_access import gives_write, granted_levels
from tests.factories import access_request


def test_levels_of_every_service_decide_write() -> None:
    read = access_request(access_levels={"s3": {"List": 1, "Read": 2}})
    write = access_request(access_levels={"s3": {"Read": 1}, "ec2": {"Tagging": 1}})
    assert granted_levels(read) == ["List", "Read"] and not gives_write(read)
    assert granted_levels(write) == ["Read", "Tagging"] and gives_write(write)
    assert gives_write(access_request(access_levels={"iam": {"Permissions management": 1}}))


def test_what_cannot_be_classified_counts_as_write() -> None:
    assert gives_write(access_request(access_levels={"s3": {"Unknown": 1}}))
    # No levels recorded: a permission set or group, or a request from before levels existed.
    none = access_request(access_levels={}, services=(), permission_set="AdministratorAccess")
    assert granted_levels(none) == ["Unknown"] and gives_write(none)


def test_the_archive_record_carries_the_same_levels() -> None:
    request = access_request(access_levels={"s3": {"Read": 1, "Write": 1}})
    event = AuditEvent(request.id, 1, EventType.REQUESTED, "U1", request.created_at, Status.PENDING)
    assert record(event, request)["access_levels"] == ["Read", "Write"]
