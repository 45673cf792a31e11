"""Routing by what is asked: rules on access levels, services, actions and permission sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_access_bot.config import BotConfig, ConfigError, parse_config
from cloud_access_bot.config_rules import effective
from cloud_access_bot.domain import routing
from cloud_access_bot.domain.accounts import OrgAccount, OrgSnapshot
from cloud_access_bot.domain.approvers import groups
from cloud_access_bot.domain.catalog import PRIVILEGE_ORDER, Catalog
from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.rules import AccountRules

ROLE = "arn:aws:iam::123456789012:role/org-reader"
LEVEL = Catalog.default().access_level

#: The documented example: Write in production → 2 approvals from sre; List/Read in dev →
#: auto-approve.
RULES: list[dict[str, Any]] = [
    {"match": {"tags": {"env": "prod"}}, "set": {"production": True}},
    {
        "description": "Write in production",
        "match": {"tags": {"env": "prod"}, "access_levels": ["Write"]},
        "set": {"approvals_required": 2, "approval_groups": ["sre"]},
    },
    {
        "description": "List/Read in dev",
        "match": {"tags": {"env": "dev"}, "access_levels": ["List", "Read"]},
        "set": {"auto_approve": True},
    },
    {
        "description": "IAM anywhere",
        "match": {"services": ["iam"]},
        "set": {"approval_groups": ["security"], "max_duration_minutes": 30},
    },
]


def bot(rules: Sequence[Mapping[str, Any]] = RULES) -> BotConfig:
    config = BotConfig.model_validate(
        {
            "loginRoles": ["Developer"],
            "approvalGroups": ["platform"],
            "organizations": {
                "iam_role": ROLE,
                "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            },
            "rules": list(rules),
        }
    )
    accounts = (
        OrgAccount(
            "111111111111", "shop-prod", "/Workloads/Prod", MappingProxyType({"env": "prod"})
        ),
        OrgAccount("222222222222", "shop-dev", "/Workloads/Dev", MappingProxyType({"env": "dev"})),
    )
    return effective(config, OrgSnapshot(accounts=accounts, taken_at=0.0)).config


def account(name: str, rules: Sequence[Mapping[str, Any]] = RULES) -> AccountRules:
    return bot(rules).rules_in_force().accounts[name]


def routed(name: str, *actions: str, target: str | None = None) -> routing.Routing:
    return routing.route(account(name), actions, target, LEVEL)


def test_write_in_production_needs_two_approvals_from_sre_and_says_which_rule() -> None:
    result = routed("shop-prod", "s3:GetObject", "s3:PutObject")
    assert result.limits.approvals_required == 2
    assert result.approver_sets == (groups(["sre"]),)
    assert result.applied == ("Write in production: needs 2 approvals from @sre",)
    assert result.auto_reason is None


def test_read_in_production_keeps_the_account_rules() -> None:
    result = routed("shop-prod", "s3:GetObject")
    assert (result.limits.approvals_required, result.approver_sets) == (1, (groups(["platform"]),))
    assert result.applied == ()


def test_list_read_in_dev_is_auto_approved_but_not_with_a_write_in_it() -> None:
    assert routed("shop-dev", "s3:GetObject", "s3:ListBucket").auto_reason == (
        "Auto-approved by rule List/Read in dev."
    )
    mixed = routed("shop-dev", "s3:GetObject", "s3:PutObject")
    assert mixed.auto_reason is None
    assert not mixed.needs_person  # no rule requires a person; the account's approvers decide


def test_a_stricter_rule_matching_anything_in_the_request_stops_auto_approval() -> None:
    result = routed("shop-dev", "s3:GetObject", "iam:GetRole")
    assert result.needs_person and result.auto_reason is None
    assert result.limits.max_duration_minutes == 30
    assert result.duration_problem(60) == (
        "60 minutes is longer than the 30-minute maximum of rule IAM anywhere"
    )
    assert result.duration_problem(30) is None


def test_every_rule_naming_groups_must_be_satisfied_by_each_approver() -> None:
    assert routing.members_of_all([["ana", "bo", "cy"], ["cy", "ana"]]) == ["ana", "cy"]
    both = routed("shop-prod", "iam:DeleteCloudFrontPublicKey")
    assert both.approver_sets == (groups(["sre"]), groups(["security"]))
    assert both.limits.approvals_required == 2


def test_a_wildcard_counts_as_every_level_up_to_its_most_privileged() -> None:
    assert routing.levels_of("s3:Get*", LEVEL) == {"List", "Read"}
    assert routing.levels_of("s3:GetObject", LEVEL) == {"Read"}
    assert routing.levels_of("nosuch:Thing", LEVEL) == set(PRIVILEGE_ORDER)
    # s3:* holds writes: the production rule applies, and a wildcard never auto-approves a
    # level it may exceed.
    assert routed("shop-prod", "s3:*").limits.approvals_required == 2
    assert routed("shop-dev", "s3:*").auto_reason is None
    assert routed("shop-dev", "s3:Get*").auto_reason is not None


def test_auto_approval_still_needs_the_guardrails() -> None:
    result = routed("shop-dev", "s3:GetObject")
    exact = [ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::b/k",))]
    wild = [ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::b/*",))]
    assert routing.auto_approved(result, exact, ()) is not None
    assert routing.auto_approved(result, wild, ()) is None
    rules = [
        *RULES[:2],
        {**RULES[2], "set": {"auto_approve": True, "auto_approve_discovered_only": True}},
    ]
    picky = routing.route(account("shop-dev", rules), ["s3:GetObject"], None, LEVEL)
    assert routing.auto_approved(picky, exact, ()) is None
    assert routing.auto_approved(picky, exact, ("arn:aws:s3:::b/k",)) is not None


def test_never_auto_approved_in_a_production_account() -> None:
    rules = [*RULES[:1], {"match": {"access_levels": ["Read"]}, "set": {"auto_approve": True}}]
    assert (
        routing.route(account("shop-prod", rules), ["s3:GetObject"], None, LEVEL).auto_reason
        is None
    )
    assert routing.route(account("shop-dev", rules), ["s3:GetObject"], None, LEVEL).auto_reason


def test_action_clauses_hold_together_for_one_action() -> None:
    rules = [
        {
            "description": "S3 deletes",
            "match": {"services": ["s3"], "actions": ["s3:Delete*"]},
            "set": {"approvals_required": 3},
        },
        {
            "description": "S3 writes",
            "match": {"services": ["s3"], "access_levels": ["Write"]},
            "set": {"approvals_required": 2},
        },
    ]
    assert (
        routing.route(
            account("shop-dev", rules), ["s3:GetObject", "ec2:StopInstances"], None, LEVEL
        ).applied
        == ()
    )
    assert (
        routing.route(
            account("shop-dev", rules), ["s3:DeleteObject"], None, LEVEL
        ).limits.approvals_required
        == 3
    )


def test_permission_set_rules_match_the_set_asked_for() -> None:
    rules = [
        {
            "description": "Admin sets",
            "match": {"permission_sets": ["Admin*"]},
            "set": {"approvals_required": 2, "max_duration_minutes": 60},
        }
    ]
    acct = account("shop-dev", rules)
    assert routing.route(acct, [], "AdministratorAccess", LEVEL).limits.approvals_required == 2
    assert routing.route(acct, [], "ReadOnly", LEVEL).applied == ()
    assert routing.route(acct, ["s3:GetObject"], None, LEVEL).applied == ()


def test_account_clauses_of_a_route_are_resolved_at_load_and_set_nothing_on_the_account() -> None:
    config = bot()
    assert [r.label for r in config.rules_in_force().accounts["shop-prod"].routes] == [
        "Write in production",
        "IAM anywhere",
    ]
    assert config.approvals_required_for("shop-prod") == 1
    assert config.max_duration_for("shop-dev") == 720


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"match": {"access_levels": ["Write"]}, "set": {"production": True}},
            "rules.0: Value error, set.production: a rule matching on what is asked",
        ),
        (
            {"match": {"tags": {"env": "dev"}}, "set": {"auto_approve": True}},
            "set.auto_approve: only in a rule matching on the actions asked",
        ),
        (
            {
                "match": {"access_levels": ["Read"]},
                "set": {"auto_approve": True, "approvals_required": 2},
            },
            "cannot both auto-approve and require approvals",
        ),
        ({"match": {"access_levels": ["Writes"]}}, "'Writes' is not one of"),
        ({"match": {"actions": ["s3 Delete"]}}, "is not an IAM action pattern"),
        ({"match": {"services": ["S3!"]}}, "is not a service prefix"),
    ],
)
def test_bad_routes_are_refused_naming_the_key(rule: dict[str, Any], message: str) -> None:
    text = (
        "loginRoles: [Developer]\napprovalGroups: [sre]\naccounts:\n  dev:\n"
        "    account_number: '222222222222'\n"
        "    iam_role: arn:aws:iam::222222222222:role/cloud-access-bot\n"
        f"rules:\n  - {rule}\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "config.yml")
    assert any(message.split(": Value error, ")[-1] in p for p in raised.value.problems), (
        raised.value.problems
    )


ACTIONS = st.sampled_from(
    [
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:Get*",
        "s3:*",
        "iam:GetRole",
        "ec2:DescribeInstances",
        "ec2:StopInstances",
        "s3:PutObjectTagging",
        "nosuch:Thing",
    ]
)


@given(st.lists(ACTIONS, min_size=1, max_size=5), st.lists(ACTIONS, max_size=3))
def test_adding_actions_never_makes_a_request_less_strict(base: list[str], more: list[str]) -> None:
    """The attacker's move: pad a request so a kinder rule applies. It never lowers the
    approvals, raises the maximum, drops a demanded group or turns on auto-approval."""
    for name in ("shop-prod", "shop-dev"):
        small = routing.route(ACCOUNTS[name], base, None, LEVEL)
        large = routing.route(ACCOUNTS[name], base + more, None, LEVEL)
        assert large.limits.approvals_required >= small.limits.approvals_required
        assert large.limits.max_duration_minutes <= small.limits.max_duration_minutes
        limits = ACCOUNTS[name].limits
        own = limits.approvers or groups(limits.approval_groups)
        if own not in small.approver_sets:
            assert set(small.approver_sets) <= set(large.approver_sets)
        if large.auto_reason:
            assert small.auto_reason


ACCOUNTS = {name: account(name) for name in ("shop-prod", "shop-dev")}


def test_padding_a_write_with_a_read_never_hands_the_write_to_a_read_rules_group() -> None:
    """A rule naming ``oncall`` for List/Read in production sanctions them for reads only:
    a Write next to a Read still needs the account's approvers (and a rule for the higher
    level speaks for the lower ones it outranks, as the Write rule does for a Read)."""
    reads = {
        "description": "Reads in production",
        "match": {"tags": {"env": "prod"}, "access_levels": ["List", "Read"]},
        "set": {"approval_groups": ["oncall"]},
    }
    prod = account("shop-prod", [RULES[0], reads])
    assert routing.route(prod, ["s3:GetObject"], None, LEVEL).approver_sets == (groups(["oncall"]),)
    padded = routing.route(prod, ["s3:PutObject", "s3:GetObject"], None, LEVEL)
    assert padded.approver_sets == (groups(["oncall"]), groups(["platform"]))
    assert padded.applied == (
        "Reads in production: approved by @oncall",
        "the account's approvers (@platform) approve too, for what no rule above covers",
    )
    unknown = routing.route(prod, ["s3:GetObject", "nosuch:Thing"], None, LEVEL)
    assert groups(["platform"]) in unknown.approver_sets
    # The documented Write rule keeps speaking for the Read beside it.
    assert routed("shop-prod", "s3:GetObject", "s3:PutObject").approver_sets == (groups(["sre"]),)
