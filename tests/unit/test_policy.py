"""The grant policy: scoping conditions, statement grouping, size and lint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.policy import (
    PolicyFinding,
    UnmappableActionsError,
    blocking_findings,
    build_grant_policy,
    lint_policy,
    policy_json,
    policy_size,
    sid_prefix,
    unmappable_actions,
)

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
END = START + timedelta(hours=2)
USERID = "AROAEXAMPLEROLEID:Alice@Example.com"
BUCKET = "arn:aws:s3:::reports"
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"


def build(*access: ServiceAccess, sid: str = "0123456789ab") -> dict:
    return build_grant_policy(access, userid=USERID, not_before=START, not_after=END, sid=sid)


def by_actions(document: dict) -> dict[tuple[str, ...], list[str]]:
    return {tuple(s["Action"]): s["Resource"] for s in document["Statement"]}


def test_every_statement_is_scoped_to_the_session_and_the_window() -> None:
    document = build(
        ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket", "s3:ListAllMyBuckets"), (BUCKET,)),
        ServiceAccess("dynamodb", ("dynamodb:Query",), (TABLE,)),
    )
    assert document["Version"] == "2012-10-17"
    assert len(document["Statement"]) == 4
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Condition"] == {
            "StringEqualsIgnoreCase": {"aws:userid": USERID},
            "DateGreaterThan": {"aws:CurrentTime": "2025-03-01T09:30:00Z"},
            "DateLessThan": {"aws:CurrentTime": "2025-03-01T11:30:00Z"},
        }


def test_actions_sharing_resources_share_a_statement() -> None:
    document = build(
        ServiceAccess(
            "s3",
            ("s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"),
            (BUCKET,),
        )
    )
    assert by_actions(document) == {
        ("s3:GetBucketLocation", "s3:ListBucket"): [BUCKET],
        ("s3:GetObject", "s3:PutObject"): [f"{BUCKET}/*"],
    }


def test_actions_without_resource_level_permissions_get_star_in_their_own_statement() -> None:
    document = build(
        ServiceAccess("s3", ("s3:ListAllMyBuckets", "s3:ListBucket"), (BUCKET,)),
        ServiceAccess("sqs", ("sqs:ListQueues",), ("arn:aws:sqs:eu-west-1:123456789012:jobs",)),
    )
    assert by_actions(document) == {
        ("s3:ListAllMyBuckets", "sqs:ListQueues"): ["*"],
        ("s3:ListBucket",): [BUCKET],
    }


def test_dynamodb_query_also_covers_the_tables_indexes() -> None:
    document = build(ServiceAccess("dynamodb", ("dynamodb:Query", "dynamodb:GetItem"), (TABLE,)))
    assert by_actions(document) == {
        ("dynamodb:GetItem",): [TABLE],
        ("dynamodb:Query",): [TABLE, f"{TABLE}/index/*"],
    }


def test_output_is_deterministic_and_action_names_are_canonical() -> None:
    one = build(ServiceAccess("s3", ("S3:getobject", "s3:ListBucket"), (BUCKET,)))
    two = build(ServiceAccess("s3", ("s3:ListBucket", "s3:GetObject"), (BUCKET,)))
    assert policy_json(one) == policy_json(two)
    assert ("s3:GetObject",) in by_actions(one)


def test_statement_sids_derive_from_the_given_sid() -> None:
    document = build(
        ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), (BUCKET,)), sid="req-42_x"
    )
    sids = [s["Sid"] for s in document["Statement"]]
    assert sids == ["req42xS0", "req42xS1"]
    assert all(s.startswith(sid_prefix("req-42_x")) for s in sids)
    with pytest.raises(ValueError):
        sid_prefix("--")


def test_wildcard_actions_expand_to_the_actions_that_apply() -> None:
    document = build(ServiceAccess("s3", ("s3:GetObjectT*",), (BUCKET,)))
    assert by_actions(document) == {("s3:GetObjectTagging", "s3:GetObjectTorrent"): [f"{BUCKET}/*"]}


def test_unknown_or_inapplicable_actions_are_reported_not_granted() -> None:
    access = [
        ServiceAccess("s3", ("s3:GetObjekt", "s3:ListBucket"), (f"{BUCKET}/2024/*",)),
    ]
    problems = unmappable_actions(access)
    assert problems == [
        "s3:GetObjekt is not a known IAM action",
        "s3:ListBucket applies to none of the chosen resources (arn:aws:s3:::reports/2024/*)",
    ]
    with pytest.raises(UnmappableActionsError) as error:
        build(*access)
    assert error.value.problems == tuple(problems)


def test_empty_grant_and_inverted_window_are_refused() -> None:
    with pytest.raises(ValueError):
        build()
    with pytest.raises(ValueError):
        build_grant_policy(
            [ServiceAccess("s3", ("s3:ListBucket",), (BUCKET,))],
            userid=USERID,
            not_before=END,
            not_after=START,
            sid="x",
        )


def test_policy_json_is_minified() -> None:
    document = build(ServiceAccess("s3", ("s3:ListBucket",), (BUCKET,)))
    text = policy_json(document)
    assert json.loads(text) == document
    assert ": " not in text and ", " not in text and "\n" not in text


def test_size_counts_characters_without_whitespace() -> None:
    document = build(ServiceAccess("s3", ("s3:ListBucket",), (BUCKET,)))
    minified = policy_json(document)
    pretty = json.dumps(document, indent=4)
    assert policy_size(document) == len(minified) == policy_size(pretty)
    assert policy_size('{"a": [ "b c" ]}\n') == len('{"a":["bc"]}')


def test_generated_bucket_policy_has_no_blocking_findings() -> None:
    document = build(ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), (BUCKET,)))
    assert blocking_findings(lint_policy(document)) == []


def test_lint_reports_a_resource_mismatch_as_blocking() -> None:
    document = build(ServiceAccess("s3", ("s3:ListBucket",), (BUCKET,)))
    document["Statement"][0]["Action"] = ["s3:GetObject"]
    findings = lint_policy(document)
    assert [f.issue for f in blocking_findings(findings)] == ["RESOURCE_MISMATCH"]


def test_blocking_findings_keep_medium_and_above() -> None:
    findings = [
        PolicyFinding("RESOURCE_STAR", "LOW", "t", "d"),
        PolicyFinding("RESOURCE_MISMATCH", "MEDIUM", "t", "d"),
        PolicyFinding("MALFORMED_JSON", "CRITICAL", "t", "d"),
    ]
    assert [f.issue for f in blocking_findings(findings)] == [
        "RESOURCE_MISMATCH",
        "MALFORMED_JSON",
    ]
