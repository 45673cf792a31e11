"""Who-had-access rules: IAM wildcard matching both ways, and grant windows at their edges."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cloud_access_bot.audit.matching import (
    GrantWindow,
    Statement,
    action_matches,
    grant_window,
    matching_grants,
    policy_statements,
    resource_matches,
)
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, EventType, Status
from tests.factories import access_request

START = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.mark.parametrize(
    ("granted", "query", "expected"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("s3:getobject", "S3:GetObject", True),
        ("s3:Get*", "s3:GetObject", True),
        ("s3:GetObject", "s3:Get*", True),
        ("s3:Get*", "s3:*Object", True),
        ("s3:*", "s3:PutObject", True),
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:GetObject", "s3:Put*", False),
        ("s3:GetObject", "s3:GetObjectAcl", False),
        ("dynamodb:*", "s3:GetObject", False),
    ],
)
def test_action_matching_with_wildcards_on_either_side(
    granted: str, query: str, expected: bool
) -> None:
    assert action_matches(granted, query) is expected


@pytest.mark.parametrize(
    ("granted", "query", "expected"),
    [
        ("arn:aws:s3:::logs/*", "arn:aws:s3:::logs/2025/03/app.log", True),
        ("arn:aws:s3:::logs/*", "arn:aws:s3:::logs", False),
        ("arn:aws:s3:::logs", "arn:aws:s3:::logs", True),
        ("arn:aws:s3:::logs", "arn:aws:s3:::Logs", False),
        ("*", "arn:aws:dynamodb:eu-west-1:111111111111:table/orders", True),
        ("arn:aws:dynamodb:*:111111111111:table/orders", "arn:aws:dynamodb:eu-west-1:1*", True),
        ("arn:aws:dynamodb:eu-west-1:111111111111:table/o?ders", "*:table/orders", True),
        ("arn:aws:s3:::logs/a*", "arn:aws:s3:::logs/b*", False),
        ("arn:aws:s3:::logs-*", "arn:aws:s3:::logs-prod/*", True),
    ],
)
def test_resource_matching_is_a_case_sensitive_glob(
    granted: str, query: str, expected: bool
) -> None:
    assert resource_matches(granted, query) is expected


def test_long_arns_do_not_exhaust_recursion() -> None:
    key = "k/" * 1500
    assert resource_matches("arn:aws:s3:::b/*", f"arn:aws:s3:::b/{key}")


POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": ["arn:aws:s3:::logs/*"],
            },
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::logs"},
            {"Effect": "Deny", "Action": "*", "Resource": "*"},
        ],
    }
)


def test_policy_statements_reads_allow_statements_as_lists() -> None:
    assert policy_statements(POLICY) == [
        Statement(("s3:GetObject", "s3:PutObject"), ("arn:aws:s3:::logs/*",)),
        Statement(("s3:ListBucket",), ("arn:aws:s3:::logs",)),
    ]
    assert policy_statements(None) == []


def test_action_and_resource_must_match_in_the_same_statement() -> None:
    statements = policy_statements(POLICY)

    # ListBucket is granted, and logs/x is granted, but never together.
    assert matching_grants(statements, "s3:ListBucket", "arn:aws:s3:::logs/x") == []
    assert matching_grants(statements, "s3:Put*", "arn:aws:s3:::logs/x") == [
        Statement(("s3:PutObject",), ("arn:aws:s3:::logs/*",))
    ]
    assert matching_grants(statements, None, None) == statements
    assert matching_grants(statements, "s3:*", None) == statements


def request(**changes: object) -> AccessRequest:
    return access_request(
        services=(),
        created_at=START - timedelta(minutes=5),
        status=Status.EXPIRED,
        starts_at=START,
        expires_at=END,
        policy_document=POLICY,
    ).with_changes(**changes)


def event(kind: EventType, at: datetime) -> AuditEvent:
    return AuditEvent("0123456789ab", 4, kind, "U2", at, Status.REVOKED)


def test_window_ends_at_expiry_even_when_the_sweeper_was_late() -> None:
    expired_late = event(EventType.EXPIRED, END + timedelta(minutes=3))
    assert grant_window(request(), [expired_late]) == GrantWindow(START, END)


def test_window_ends_at_an_early_revocation() -> None:
    revoked = START + timedelta(minutes=20)
    assert grant_window(request(), [event(EventType.REVOKED, revoked)]) == GrantWindow(
        START, revoked, EventType.REVOKED
    )


def test_never_granted_has_no_window() -> None:
    assert grant_window(request(policy_document=None, status=Status.DENIED), []) is None
    assert grant_window(request(starts_at=None), []) is None


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (START - timedelta(microseconds=1), False),
        (START, True),
        (START + timedelta(minutes=30), True),
        (END - timedelta(microseconds=1), True),
        (END, False),
        (END + timedelta(days=1), False),
    ],
)
def test_points_at_the_edges_start_inclusive_end_exclusive(moment: datetime, inside: bool) -> None:
    assert GrantWindow(START, END).overlaps(moment, moment) is inside


@pytest.mark.parametrize(
    ("since", "until", "inside"),
    [
        (START - timedelta(hours=2), START - timedelta(hours=1), False),
        (START - timedelta(hours=2), START, True),
        (START + timedelta(minutes=10), START + timedelta(minutes=20), True),
        (START - timedelta(hours=2), END + timedelta(hours=2), True),
        (END, END + timedelta(hours=1), False),
    ],
)
def test_ranges_overlap(since: datetime, until: datetime, inside: bool) -> None:
    assert GrantWindow(START, END).overlaps(since, until) is inside
