"""ARN parsing, validation messages and the least-privilege resource mapping."""

from __future__ import annotations

import pytest

from cloud_access_bot.domain.arns import (
    Arn,
    missing_required_types,
    parse_arn,
    partition_of,
    resource_problems,
    resources_for_action,
    validate_arn,
)
from cloud_access_bot.domain.model import ServiceAccess

ACCOUNT = "123456789012"
REGIONS = ("eu-west-1", "us-east-1")
TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders"
LOG_GROUP = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/resize"


def validate(text: str, service: str, *, wildcards: bool = False) -> str | None:
    return validate_arn(
        text, service=service, account_id=ACCOUNT, regions=REGIONS, allow_wildcards=wildcards
    )


def test_parse_arn_splits_the_six_fields_and_keeps_colons_in_the_resource() -> None:
    assert parse_arn(f"{LOG_GROUP}:log-stream:s") == Arn(
        "aws", "logs", "eu-west-1", ACCOUNT, "log-group:/aws/lambda/resize:log-stream:s"
    )
    assert str(parse_arn("arn:aws:s3:::b/k")) == "arn:aws:s3:::b/k"
    for bad in (
        "",
        "arn:aws:s3::",
        "arn:aws:s3:::",
        "urn:aws:s3:::b",
        "arn::s3:::b",
        "arn:aws:s3:::a b",
    ):
        assert parse_arn(bad) is None, bad


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("arn:aws:s3:::reports", "s3"),
        ("arn:aws:s3:::reports/2024/a:b.csv", "s3"),
        (TABLE, "dynamodb"),
        (f"{TABLE}/index/by-user", "dynamodb"),
        (f"arn:aws:dynamodb::{ACCOUNT}:global-table/orders", "dynamodb"),
        (f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs.fifo", "sqs"),
        (f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize", "lambda"),
        (f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:resize:live", "lambda"),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab", "kms"),
        (f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/db-AbCdEf", "secretsmanager"),
        (f"{LOG_GROUP}:*", "logs"),
        (f"arn:aws:iam::{ACCOUNT}:role/team/deployer", "iam"),
        ("arn:aws-us-gov:s3:::gov-bucket", "s3"),
    ],
)
def test_valid_arns_pass(text: str, service: str) -> None:
    assert validate(text, service) is None


@pytest.mark.parametrize(
    ("text", "service", "message"),
    [
        (
            "reports",
            "s3",
            "'reports' is not an ARN: expected arn:partition:service:region:account:resource "
            "(e.g. arn:aws:s3:::my-bucket)",
        ),
        (
            "arn:amazon:s3:::reports",
            "s3",
            "Unknown partition 'amazon': expected one of aws, aws-cn, aws-us-gov, aws-iso, "
            "aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc",
        ),
        (
            f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs",
            "s3",
            "This is an ARN of service 'sqs', but the chosen service is 's3' "
            "(its ARNs start with arn:aws:s3:)",
        ),
        (
            "arn:aws:dynamodb:eu-west-1:111122223333:table/orders",
            "dynamodb",
            f"Account 111122223333 in the ARN is not the chosen account {ACCOUNT}",
        ),
        (
            f"arn:aws:s3::{ACCOUNT}:reports",
            "s3",
            "The account field of s3 bucket ARNs must be empty "
            "(format: arn:aws:s3:::${BucketName})",
        ),
        (
            "arn:aws:dynamodb:eu-west-1::table/orders",
            "dynamodb",
            "The account is missing: dynamodb table ARNs look like "
            "arn:aws:dynamodb:${Region}:${Account}:table/${TableName}",
        ),
        (
            f"arn:aws:dynamodb:ap-south-1:{ACCOUNT}:table/orders",
            "dynamodb",
            "Region ap-south-1 is not one of the configured regions: eu-west-1, us-east-1",
        ),
        (
            f"arn:aws:dynamodb::{ACCOUNT}:table/orders",
            "dynamodb",
            "The region is missing: dynamodb table ARNs look like "
            "arn:aws:dynamodb:${Region}:${Account}:table/${TableName}",
        ),
        (
            f"arn:aws:iam:eu-west-1:{ACCOUNT}:role/deployer",
            "iam",
            "The region field of iam role ARNs must be empty "
            "(format: arn:aws:iam::${Account}:role/${RoleNameWithPath})",
        ),
        (
            "arn:aws:s3:::reports*",
            "s3",
            "'arn:aws:s3:::reports*': a wildcard here spans several s3 buckets; write the "
            "BucketName out in full (a wildcard may only come after it, or after a named path "
            "like app/prod/*)",
        ),
        (
            f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs:extra",
            "sqs",
            "'jobs:extra' is not a known sqs resource. Expected one of: "
            "queue: arn:aws:sqs:${Region}:${Account}:${QueueName}",
        ),
    ],
)
def test_wrong_arns_say_precisely_what_is_wrong(text: str, service: str, message: str) -> None:
    assert validate(text, service) == message


def test_wildcards_only_in_the_resource_part_when_allowed() -> None:
    assert validate("arn:aws:s3:::reports-*", "s3", wildcards=True) is None
    assert validate("arn:aws:s3:::reports/2024/*", "s3", wildcards=True) is None
    assert validate(f"arn:aws:sqs:eu-west-1:{ACCOUNT}:jobs-?", "sqs", wildcards=True) is None
    assert (
        validate(f"arn:aws:sqs:*:{ACCOUNT}:jobs", "sqs", wildcards=True)
        == "Wildcards are only allowed in the resource part, not in the region"
    )


def test_no_configured_regions_accepts_any_region() -> None:
    text = f"arn:aws:sqs:ap-south-1:{ACCOUNT}:jobs"
    assert (
        validate_arn(text, service="sqs", account_id=ACCOUNT, regions=(), allow_wildcards=False)
        is None
    )


@pytest.mark.parametrize(
    ("action", "chosen", "expected"),
    [
        ("s3:ListBucket", ["arn:aws:s3:::b"], ("arn:aws:s3:::b",)),
        ("s3:GetObject", ["arn:aws:s3:::b"], ("arn:aws:s3:::b/*",)),
        ("s3:PutObject", ["arn:aws:s3:::b/uploads/*"], ("arn:aws:s3:::b/uploads/*",)),
        ("s3:ListBucket", ["arn:aws:s3:::b/uploads/*"], ()),
        ("s3:ListAllMyBuckets", ["arn:aws:s3:::b"], ("*",)),
        ("s3:GetObject", ["arn:aws-cn:s3:::b"], ("arn:aws-cn:s3:::b/*",)),
        ("s3:GetObject", ["*"], ("*",)),
        ("dynamodb:GetItem", [TABLE], (TABLE,)),
        ("dynamodb:Query", [TABLE], (TABLE, f"{TABLE}/index/*")),
        ("dynamodb:GetRecords", [TABLE], (f"{TABLE}/stream/*",)),
        (
            "lambda:InvokeFunction",
            [f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f"],
            (f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f",),
        ),
        ("logs:FilterLogEvents", [f"{LOG_GROUP}:*"], (LOG_GROUP,)),
        ("logs:GetLogEvents", [LOG_GROUP], (f"{LOG_GROUP}:log-stream:*",)),
        (
            "sqs:SendMessage",
            [f"arn:aws:sqs:eu-west-1:{ACCOUNT}:a", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:b"],
            (f"arn:aws:sqs:eu-west-1:{ACCOUNT}:a", f"arn:aws:sqs:eu-west-1:{ACCOUNT}:b"),
        ),
        (
            "sns:Publish",
            [f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts", "arn:aws:s3:::b"],
            (f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts",),
        ),
        (
            "kms:Decrypt",
            [f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1"],
            (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k1",),
        ),
        ("s3:GetObjekt", ["arn:aws:s3:::b"], ()),
        ("s3:GetObject", ["not an arn"], ()),
    ],
)
def test_resources_for_action(action: str, chosen: list[str], expected: tuple[str, ...]) -> None:
    assert resources_for_action(action, chosen) == expected


def test_actions_needing_several_resource_types_say_which_are_missing() -> None:
    instance = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0"
    volume = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/vol-0123456789abcdef0"
    assert missing_required_types("ec2:AttachVolume", [instance]) == ("volume",)
    assert missing_required_types("ec2:AttachVolume", [instance, volume]) == ()
    assert missing_required_types("ec2:AttachVolume", ["*"]) == ()
    assert missing_required_types("s3:GetObject", ["arn:aws:s3:::b"]) == ()


# --- wildcards below a named resource, partitions, policy variables ---------------------------


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("arn:aws:s3:::acc-data/reports/*", "s3"),  # a key prefix of one bucket
        ("arn:aws:s3:::acc-data/*", "s3"),  # every object of one bucket
        ("arn:aws:s3:::acc-data/*/summary.csv", "s3"),  # the wildcard belongs to the key
        (f"{TABLE}/index/*", "dynamodb"),  # the indexes of one table
        (f"{LOG_GROUP}:log-stream:*", "logs"),  # the streams of one log group
        (f"{LOG_GROUP}:log-stream:2026-*", "logs"),
        (f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/app/prod/*", "ssm"),  # a named path
    ],
)
def test_wildcards_below_a_named_resource_are_accepted(text: str, service: str) -> None:
    assert validate(text, service) is None


@pytest.mark.parametrize(
    ("text", "service", "named"),
    [
        ("arn:aws:s3:::acc-*", "s3", "BucketName"),
        ("arn:aws:s3:::*", "s3", "BucketName"),
        ("arn:aws:s3:::*/reports/x", "s3", "BucketName"),
        ("arn:aws:s3:::acc-?ata/x", "s3", "BucketName"),
        (f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/*", "dynamodb", "TableName"),
        (f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/ord*/index/x", "dynamodb", "TableName"),
        (f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:*", "logs", "LogGroupName"),
        (f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/*:log-stream:x", "logs", "LogGroup"),
        (f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/*", "ssm", "ParameterName"),
        ("arn:aws:dynamodb:eu-west-1:*:table/orders", "dynamodb", "not in the account"),
        (f"arn:aws:dynamodb:*:{ACCOUNT}:table/orders", "dynamodb", "not in the region"),
    ],
)
def test_wildcards_spanning_resources_are_refused_naming_the_part(
    text: str, service: str, named: str
) -> None:
    problem = validate(text, service)
    assert problem is not None and named in problem, problem


def test_another_partition_and_policy_variables_are_refused() -> None:
    def in_aws(text: str) -> str | None:
        return validate_arn(
            text,
            service="s3",
            account_id=ACCOUNT,
            regions=REGIONS,
            allow_wildcards=True,
            partition="aws",
        )

    assert in_aws("arn:aws-cn:s3:::b") == (
        "'arn:aws-cn:s3:::b' is in partition 'aws-cn', but the chosen account is in 'aws' "
        "(its ARNs start with arn:aws:)"
    )
    assert "IAM policy variable" in (in_aws("arn:aws:s3:::b/${aws:username}/*") or "")
    assert partition_of("arn:aws-us-gov:iam::123456789012:role/bot") == "aws-us-gov"


def scope(*access: ServiceAccess, wildcards: bool = False) -> list[tuple[str, str]]:
    return resource_problems(
        access, account_id=ACCOUNT, partition="aws", regions=REGIONS, allow_wildcards=wildcards
    )


def test_star_only_for_actions_without_resource_level_permissions() -> None:
    assert scope(ServiceAccess("s3", ("s3:ListAllMyBuckets",), ("*",))) == []
    [(resource, why)] = scope(ServiceAccess("s3", ("s3:ListAllMyBuckets", "s3:GetObject"), ("*",)))
    assert resource == "*" and "s3:GetObject can be limited to named resources" in why
    wild = ServiceAccess("secretsmanager", ("secretsmanager:Get*",), ("*",))
    assert scope(wild) and scope(wild, wildcards=True) == []


def test_every_resource_is_judged_and_named() -> None:
    foreign = "arn:aws:dynamodb:eu-west-1:999999999999:table/orders"
    problems = scope(ServiceAccess("dynamodb", ("dynamodb:GetItem",), (TABLE, foreign)))
    assert [resource for resource, _ in problems] == [foreign]
