"""The IAM catalog: service search, access levels and the options of Slack's selects."""

from __future__ import annotations

import pytest

from cloud_access_bot.domain.catalog import (
    LEVELS,
    MAX_OPTION_CHARS,
    MAX_OPTIONS,
    Catalog,
    OptionGroup,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


def all_options(groups: list[OptionGroup]) -> list[tuple[str, str]]:
    return [(o.text, o.value) for g in groups for o in g.options]


def test_default_is_loaded_once(catalog: Catalog) -> None:
    assert Catalog.default() is catalog
    assert len(catalog.services()) > 400


def test_service_search_ranks_exact_prefix_then_prefix_start_then_name(
    catalog: Catalog,
) -> None:
    prefixes = [s.prefix for s in catalog.search_services("s3")]
    assert prefixes[0] == "s3"
    starts = [p for p in prefixes if p.startswith("s3") and p != "s3"]
    assert starts and prefixes[1 : 1 + len(starts)] == sorted(starts)
    assert all(not p.startswith("s3") for p in prefixes[1 + len(starts) :])

    by_name = catalog.search_services("key management")
    assert [s.prefix for s in by_name] == ["kms"]
    assert catalog.search_services("DYNAMODB")[0].prefix == "dynamodb"
    assert catalog.search_services("no-such-service-anywhere") == []
    assert len(catalog.search_services("", limit=7)) == 7


def test_service_options_fit_slack(catalog: Catalog) -> None:
    options = catalog.service_options("")
    assert len(options) == MAX_OPTIONS
    assert all(
        len(o.text) <= MAX_OPTION_CHARS and len(o.value) <= MAX_OPTION_CHARS for o in options
    )
    assert catalog.service_options("lambda")[0].value == "lambda"
    every = [o for s in catalog.services() for o in catalog.service_options(s.prefix)[:1]]
    assert all(len(o.text) <= MAX_OPTION_CHARS for o in every)


def test_actions_and_access_levels(catalog: Catalog) -> None:
    names = [a.name for a in catalog.actions("s3")]
    assert "s3:GetObject" in names and names == sorted(names)
    assert catalog.actions("nope") == ()
    assert catalog.access_level("s3:GetObject") == "Read"
    assert catalog.access_level("S3:getobject") == "Read"
    assert catalog.access_level("s3:ListBucket") == "List"
    assert catalog.access_level("s3:PutBucketPolicy") == "Permissions management"
    assert catalog.access_level("s3:List*") == "List"
    assert catalog.access_level("s3:Get*") == "Read"
    assert catalog.access_level("s3:Put*") == "Permissions management"
    assert catalog.access_level("s3:GetObjekt") is None
    assert catalog.access_level("nope:Get*") is None
    assert catalog.expand("dynamodb:Query") == ["dynamodb:Query"]
    assert catalog.expand("dynamodb:Batch*")
    assert catalog.expand("s3:GetObjekt") == []
    assert catalog.action("s3:getobject").name == "s3:GetObject"  # type: ignore[union-attr]


def test_action_groups_put_quick_picks_first_then_levels_in_order(catalog: Catalog) -> None:
    groups = catalog.action_option_groups("s3", "")
    labels = [g.label for g in groups]
    assert labels[0] == "Quick picks"
    assert labels[1:] == [lv for lv in LEVELS if lv in labels]
    quick = groups[0].options[0]
    assert quick.value == "all:s3:List+Read"
    assert quick.text.startswith("All List + Read actions (")
    assert len(all_options(groups)) == MAX_OPTIONS


def test_action_query_ranks_exact_then_starts_with_then_contains(catalog: Catalog) -> None:
    groups = catalog.action_option_groups("s3", "getobject")
    read = [o.value for o in groups[0].options]
    assert read[0] == "s3:GetObject"
    assert read[1:] == sorted(read[1:])
    assert all("getobject" in v.lower() for _, v in all_options(groups))
    by_level = catalog.action_option_groups("s3", "objectacl")
    assert [(g.label, [o.value for o in g.options]) for g in by_level] == [
        ("Read", ["s3:GetObjectAcl"]),
        ("Permissions management", ["s3:PutObjectAcl"]),
    ]
    sqs_list = catalog.action_option_groups("sqs", "list")
    assert [o.value for o in sqs_list[0].options] == ["all:sqs:List+Read"]
    starts_first = [o.value for o in sqs_list[1].options]
    assert starts_first[:2] == ["sqs:ListDeadLetterSourceQueues", "sqs:ListMessageMoveTasks"]
    assert catalog.action_option_groups("s3", "s3:GetObjectAcl")[0].options[0].value == (
        "s3:GetObjectAcl"
    )


def test_quick_picks_match_the_query_and_expand_to_their_actions(catalog: Catalog) -> None:
    groups = catalog.action_option_groups("s3", "read")
    quick = groups[0]
    assert quick.label == "Quick picks"
    assert [o.value for o in quick.options] == ["all:s3:List+Read", "all:s3:Read"]
    actions = catalog.decode_option("all:s3:List+Read")
    assert "s3:GetObject" in actions and "s3:ListBucket" in actions
    assert {catalog.access_level(a) for a in actions} == {"List", "Read"}
    assert catalog.decode_option("all:s3:Read") == [
        a for a in actions if catalog.access_level(a) == "Read"
    ]
    # SQS has no List actions: no empty "All List actions" pick.
    sqs_quick = [o.value for o in catalog.action_option_groups("sqs", "")[0].options]
    assert "all:sqs:List" not in sqs_quick and "all:sqs:Read" in sqs_quick


def test_permissions_management_is_never_a_quick_pick(catalog: Catalog) -> None:
    values = [v for _, v in all_options(catalog.action_option_groups("iam", ""))]
    assert not any(v.startswith("all:") and "Permissions" in v for v in values)


def test_unknown_values_decode_to_nothing(catalog: Catalog) -> None:
    for value in ("s3:GetObjekt", "all:s3:Everything", "all:nope:Read", "", "all:s3:"):
        assert catalog.decode_option(value) == [], value
    assert catalog.action_option_groups("nope", "") == []


def test_every_action_of_the_catalog_has_a_unique_value_that_round_trips(
    catalog: Catalog,
) -> None:
    values: set[str] = set()
    for service in catalog.services():
        for group in catalog.action_option_groups(service.prefix, ""):
            for option in group.options:
                assert len(option.text) <= MAX_OPTION_CHARS
                assert len(option.value) <= MAX_OPTION_CHARS
                assert catalog.decode_option(option.value), option.value
        for action in catalog.actions(service.prefix):
            groups = catalog.action_option_groups(service.prefix, action.name)
            found = [v for _, v in all_options(groups) if v == action.name]
            assert found == [action.name]
            assert catalog.decode_option(action.name) == [action.name]
            assert action.name not in values
            values.add(action.name)
    assert len(values) > 15_000


def test_option_counts_never_exceed_slacks_limit(catalog: Catalog) -> None:
    for service in ("ec2", "iam", "s3", "sagemaker"):
        for query in ("", "a", "describe", "get", "list", "all"):
            groups = catalog.action_option_groups(service, query)
            assert len(all_options(groups)) <= MAX_OPTIONS
            assert all(g.options for g in groups)
            assert all(len(g.label) <= MAX_OPTION_CHARS for g in groups)


def test_slack_json_shape(catalog: Catalog) -> None:
    group = catalog.action_option_groups("s3", "GetObject")[0].to_slack()
    assert group["label"] == {"type": "plain_text", "text": "Read"}
    assert group["options"][0] == {
        "text": {"type": "plain_text", "text": "s3:GetObject"},
        "value": "s3:GetObject",
    }
