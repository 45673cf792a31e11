"""What may be requested at all: never-grantable actions, permissions management, durations."""

from __future__ import annotations

import re
from itertools import product
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.guardrails import (
    approvals_required,
    auto_approvable,
    check_duration,
    is_escalation,
    pattern_covers,
    patterns_overlap,
    refused_actions,
)
from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.rules import AutoApproveRule


def iam_pattern_matches(pattern: str, action: str) -> bool:
    """Whether the IAM action pattern matches the action name (``iam:*`` ~ ``iam:PassRole``):
    the plain regex reading of IAM's wildcards, the oracle the guardrails are checked against."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), action, re.IGNORECASE | re.DOTALL) is not None


LEVELS = {
    "s3:getobject": "Read",
    "s3:listbucket": "List",
    "s3:putobject": "Write",
    "s3:putbucketpolicy": "Permissions management",
    "iam:passrole": "Write",
    "iam:getrole": "Read",
    "iam:attachrolepolicy": "Permissions management",
}


def access_level(action: str) -> str | None:
    return LEVELS.get(action.lower())


def make_config(**top: Any) -> BotConfig:
    """dev (no exceptions) and ops (may be given iam:PassRole), with the default guardrails."""
    accounts = {
        "dev": {"account_number": "111111111111", "iam_role": "arn:aws:iam::111111111111:role/b"},
        "ops": {
            "account_number": "222222222222",
            "iam_role": "arn:aws:iam::222222222222:role/b",
            "allowed_dangerous_actions": ["iam:PassRole"],
            "max_duration_minutes": 60,
        },
    }
    return BotConfig.model_validate(
        {"loginRoles": ["SSO"], "approvalGroups": ["devops"], "accounts": accounts, **top}
    )


def refused(actions: list[str], account: str = "dev", **top: Any) -> dict[str, str]:
    found = refused_actions(
        actions,
        rules=make_config(**top).rules_in_force(),
        account_name=account,
        access_level=access_level,
    )
    return {r.action: r.reason for r in found}


# --- the shared wildcard matcher -------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("iam:*", "iam:PassRole", True),
        ("iam:*", "iam:", True),
        ("iam:*", "s3:GetObject", False),
        ("IAM:passrole", "iam:PassRole", True),
        ("s3:Get*", "s3:GetObject", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Get?bject", "s3:GetObjject", False),
        ("*", "ec2:RunInstances", True),
        ("s3:GetObject", "s3:GetObjectAcl", False),
        ("s3.GetObject", "s3xGetObject", False),
    ],
)
def test_iam_pattern_matches(pattern: str, action: str, matches: bool) -> None:
    assert iam_pattern_matches(pattern, action) is matches


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("iam:*", "iam:Get*", True),
        ("iam:*", "*", True),
        ("iam:*", "s3:*", False),
        ("iam:Pass*", "iam:Get*", False),
        ("iam:*Role", "iam:Get*", True),
        ("iam:?assRole", "IAM:PASSROLE", True),
        ("s3:GetObject", "s3:GetObject", True),
    ],
)
def test_patterns_overlap(first: str, second: str, overlap: bool) -> None:
    assert patterns_overlap(first, second) is overlap
    assert patterns_overlap(second, first) is overlap


@pytest.mark.parametrize(
    ("allowed", "requested", "covered"),
    [
        ("iam:*", "iam:Get*", True),
        ("iam:PassRole", "iam:passrole", True),
        ("iam:GetRole", "iam:Get*", False),
        ("iam:Get?", "iam:Get*", False),
        ("iam:Get*", "iam:Get?ole", True),
        ("iam:*", "*", False),
    ],
)
def test_pattern_covers(allowed: str, requested: str, covered: bool) -> None:
    assert pattern_covers(allowed, requested) is covered


# --- refused actions --------------------------------------------------------------------------


def test_read_actions_outside_the_guardrails_are_not_refused() -> None:
    assert refused(["s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:Get*"]) == {}


def test_never_grantable_action_is_refused_with_the_pattern_and_the_way_out() -> None:
    assert refused(["s3:GetObject", "iam:PassRole"]) == {
        "iam:PassRole": "iam:PassRole is never grantable (never_grantable_actions: iam:*); "
        "ask an admin to allow it for dev (allowed_dangerous_actions)"
    }


def test_never_grantable_matching_ignores_case() -> None:
    assert "IAM:passrole" in refused(["IAM:passrole"])


@pytest.mark.parametrize("action", ["iam:Get*", "*", "i*", "*:AssumeRole", "sts:Assume?ole"])
def test_requested_wildcards_reaching_a_forbidden_action_are_refused(action: str) -> None:
    reasons = refused([action])
    assert "includes actions that are never grantable" in reasons[action]


def test_every_forbidden_pattern_reached_is_named() -> None:
    named = (
        "(never_grantable_actions: iam:*, organizations:*, sts:*, account:*, sso:*, "
        "sso-directory:*, identitystore:*)"
    )
    assert named in refused(["*"])["*"]


def test_account_exception_lifts_the_refusal_in_that_account_only() -> None:
    assert refused(["iam:PassRole"], account="ops") == {}
    assert "iam:PassRole" in refused(["iam:PassRole"], account="dev")


def test_exception_for_one_action_does_not_open_a_wildcard() -> None:
    assert "iam:Pass*" in refused(["iam:Pass*"], account="ops")


def test_permissions_management_is_refused_when_configured() -> None:
    assert refused(["s3:PutBucketPolicy"]) == {
        "s3:PutBucketPolicy": "s3:PutBucketPolicy is Permissions management access, which this "
        "bot does not grant (deny_permissions_management); ask an admin to allow it for dev "
        "(allowed_dangerous_actions)"
    }
    assert refused(["s3:PutBucketPolicy"], deny_permissions_management=False) == {}


def test_account_exception_lifts_the_permissions_management_refusal() -> None:
    config = make_config(
        accounts={
            "dev": {
                "account_number": "111111111111",
                "iam_role": "arn:aws:iam::111111111111:role/b",
                "allowed_dangerous_actions": ["s3:PutBucket*"],
            }
        }
    )
    found = refused_actions(
        ["s3:PutBucketPolicy"],
        rules=config.rules_in_force(),
        account_name="dev",
        access_level=access_level,
    )
    assert found == []


def test_custom_never_grantable_list_replaces_the_default() -> None:
    reasons = refused(["iam:GetRole", "ec2:TerminateInstances"], never_grantable_actions=["ec2:T*"])
    assert set(reasons) == {"ec2:TerminateInstances"}


def test_unknown_account_gets_no_exceptions() -> None:
    found = refused_actions(
        ["iam:PassRole"],
        rules=make_config().rules_in_force(),
        account_name="gone",
        access_level=access_level,
    )
    assert [r.action for r in found] == ["iam:PassRole"]


# --- identity center and privilege escalation ------------------------------------------------


@pytest.mark.parametrize(
    "action", ["sso:CreatePermissionSet", "sso-directory:AddMemberToGroup", "identitystore:*"]
)
def test_identity_center_is_never_grantable_by_default(action: str) -> None:
    assert "never grantable" in refused([action])[action]


@pytest.mark.parametrize(
    "action",
    [
        "lambda:UpdateFunctionCode",  # policy_sentry's privilege-escalation list
        "lambda:CreateFunctionUrlConfig",  # the curated additions
        "ssm:SendCommand",
        "ec2:ModifyInstanceAttribute",
        "cloudformation:CreateStack",
        "lambda:Update*",  # a pattern reaching one of them
    ],
)
def test_escalation_is_refused_unless_the_account_allows_it(action: str) -> None:
    assert is_escalation(action)
    assert "escalate privileges" in refused([action])[action]
    accounts = make_config().model_dump(mode="json")["accounts"]
    accounts["dev"]["allow_escalation"] = True
    assert refused([action], accounts=accounts) == {}


def test_ordinary_actions_are_not_escalation() -> None:
    everyday = ["s3:GetObject", "lambda:GetFunction", "lambda:InvokeFunction", "ssm:Get*"]
    assert not any(map(is_escalation, everyday))


def test_escalation_needs_the_production_approval_count() -> None:
    accounts = make_config().model_dump(mode="json")["accounts"]
    config = make_config(accounts=accounts)
    assert approvals_required(config.rules_in_force(), "dev", ["s3:GetObject"]) == 1
    assert (
        approvals_required(config.rules_in_force(), "dev", ["ssm:SendCommand"]) == 2
    )  # no production account
    accounts["ops"] |= {"production": True, "approvals_required": 3}
    config = make_config(accounts=accounts)
    assert (
        approvals_required(config.rules_in_force(), "dev", ["s3:GetObject", "ssm:SendCommand"]) == 3
    )


@pytest.mark.parametrize(
    ("resources", "actions", "discovered_only", "expected"),
    [
        (("arn:aws:s3:::b",), ("s3:GetObject",), False, True),
        (("*",), ("s3:GetObject",), False, False),
        (("arn:aws:s3:::b/reports/*",), ("s3:GetObject",), False, False),
        # the ":*" CloudWatch Logs appends to every log group ARN names one group
        (("arn:aws:logs:eu-west-1:111111111111:log-group:/app:*",), ("s3:GetObject",), False, True),
        (("arn:aws:logs:eu-west-1:111111111111:log-group:/app:log-stream:*",), (), False, False),
        (("arn:aws:s3:::b",), ("lambda:UpdateFunctionCode",), False, False),
        (("arn:aws:s3:::b",), ("s3:GetObject",), True, True),
        (("arn:aws:s3:::typed",), ("s3:GetObject",), True, False),
    ],
)
def test_auto_approval_never_for_wildcards_escalation_or_undiscovered_resources(
    resources: tuple[str, ...], actions: tuple[str, ...], discovered_only: bool, expected: bool
) -> None:
    services = (ServiceAccess("s3", actions, resources),)
    rule = AutoApproveRule(
        accounts=(),
        access_levels=("List", "Read"),
        max_duration_minutes=60,
        discovered_only=discovered_only,
    )
    assert auto_approvable(services, rule, {"arn:aws:s3:::b"}) is expected


# --- durations --------------------------------------------------------------------------------


def test_offered_duration_is_accepted() -> None:
    assert check_duration(60, rules=make_config().rules_in_force(), account_name="dev") is None
    one_minute = make_config(durations_minutes=[1, 15])
    assert check_duration(1, rules=one_minute.rules_in_force(), account_name="dev") is None


def test_duration_not_offered_lists_the_offered_ones() -> None:
    assert check_duration(45, rules=make_config().rules_in_force(), account_name="ops") == (
        "45 minutes is not an offered duration for ops (15, 30, 60 minutes)"
    )


def test_duration_over_the_account_maximum_is_refused() -> None:
    assert check_duration(120, rules=make_config().rules_in_force(), account_name="ops") == (
        "120 minutes is longer than the 60-minute maximum for ops"
    )
    assert check_duration(120, rules=make_config().rules_in_force(), account_name="dev") is None


def test_duration_over_the_global_maximum_is_refused_even_if_offered() -> None:
    config = make_config(max_duration_minutes=30)
    assert check_duration(60, rules=config.rules_in_force(), account_name="dev") == (
        "60 minutes is longer than the 30-minute maximum for dev"
    )


def test_duration_for_unknown_account_is_refused() -> None:
    assert check_duration(60, rules=make_config().rules_in_force(), account_name="gone") == (
        "gone is not a configured account"
    )


# --- properties -------------------------------------------------------------------------------

#: Every string over a two-letter alphabet up to 6 long: a witness for any overlap of two
#: patterns of at most 3 characters each (a shortest common string needs one character per
#: non-star pattern character at most).
WORDS = ["".join(p) for n in range(7) for p in product("ab", repeat=n)]
small_patterns = st.text(alphabet="aB*?", max_size=3)


@settings(max_examples=300, deadline=None)
@given(small_patterns, small_patterns)
def test_overlap_is_exactly_a_shared_action(first: str, second: str) -> None:
    shared = any(iam_pattern_matches(first, w) and iam_pattern_matches(second, w) for w in WORDS)
    assert patterns_overlap(first, second) is shared


@settings(max_examples=300, deadline=None)
@given(small_patterns, small_patterns)
def test_coverage_never_claims_an_action_the_exception_does_not_match(
    allowed: str, requested: str
) -> None:
    if pattern_covers(allowed, requested):
        reached = [w for w in WORDS if iam_pattern_matches(requested, w)]
        assert all(iam_pattern_matches(allowed, w) for w in reached)
    if "*" not in requested and "?" not in requested:
        assert pattern_covers(allowed, requested) is iam_pattern_matches(allowed, requested)


SERVICES = ["iam", "s3", "sts"]
NAMES = ["PassRole", "GetRole", "GetObject", "PutBucketPolicy", "AssumeRole"]
CONCRETE = [f"{s}:{n}" for s in SERVICES for n in NAMES]


@st.composite
def action_patterns(draw: st.DrawFn) -> str:
    """An IAM action or pattern the config accepts: ``svc:Name``, ``svc:Na*``, ``svc:N?me``…"""
    if draw(st.integers(0, 9)) == 0:
        return "*"
    name = draw(st.sampled_from(NAMES))
    cut = draw(st.integers(1, len(name)))
    match draw(st.sampled_from(["plain", "prefix", "one"])):
        case "prefix":
            name = name[:cut] + "*"
        case "one":
            name = name[: cut - 1] + "?" + name[cut:]
    return f"{draw(st.sampled_from(SERVICES))}:{name}"


@settings(max_examples=200, deadline=None)
@given(
    never=st.lists(action_patterns(), max_size=3),
    allowed=st.lists(action_patterns(), max_size=2),
    deny_pm=st.booleans(),
    requested=st.lists(st.sampled_from(CONCRETE) | action_patterns(), min_size=1, max_size=5),
)
def test_anything_reaching_a_forbidden_action_is_refused_unless_allowed(
    never: list[str], allowed: list[str], deny_pm: bool, requested: list[str]
) -> None:
    config = make_config(
        never_grantable_actions=never,
        deny_permissions_management=deny_pm,
        accounts={
            "dev": {
                "account_number": "111111111111",
                "iam_role": "arn:aws:iam::111111111111:role/b",
                "allowed_dangerous_actions": allowed,
                "allow_escalation": True,  # escalation has its own tests
            }
        },
    )
    refusals = refused_actions(
        requested, rules=config.rules_in_force(), account_name="dev", access_level=access_level
    )
    refused_set = {r.action for r in refusals}
    for action in requested:
        exempt = any(pattern_covers(a, action) for a in allowed)
        reaches_forbidden = any(
            iam_pattern_matches(action, c) and iam_pattern_matches(p, c)
            for c in CONCRETE
            for p in never
        )
        if reaches_forbidden and not exempt:
            assert action in refused_set
        dangerous = deny_pm and access_level(action) == "Permissions management"
        if action in refused_set:
            assert not exempt
            assert dangerous or any(patterns_overlap(p, action) for p in never)
        elif not exempt:
            assert not dangerous
            assert not any(iam_pattern_matches(p, action) for p in never)
    assert all(r.reason.startswith(r.action) for r in refusals)
