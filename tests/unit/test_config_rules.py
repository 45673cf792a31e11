"""Rules by OU path, tag and name pattern: matching, order, and explicit entries winning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_access_bot.cli import explain_account
from cloud_access_bot.config import AccountRule, BotConfig, ConfigError, parse_config
from cloud_access_bot.config_rules import Facts, effective, rule_matches
from cloud_access_bot.domain.accounts import OrgAccount, OrgSnapshot

ROLE = "arn:aws:iam::123456789012:role/org-reader"


def snapshot(*accounts: OrgAccount) -> OrgSnapshot:
    return OrgSnapshot(accounts=accounts, taken_at=0.0)


def org(ident: str, name: str, ou: str = "/", **tags: str) -> OrgAccount:
    return OrgAccount(ident, name, ou, MappingProxyType(tags))


def config(
    rules: Sequence[Mapping[str, Any]], accounts: Mapping[str, Any] | None = None
) -> BotConfig:
    return BotConfig.model_validate(
        {
            "loginRoles": ["Developer"],
            "approvalGroups": ["sre"],
            "organizations": {
                "iam_role": ROLE,
                "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
            },
            "rules": rules,
            "accounts": accounts or {},
        }
    )


PROD = org("111111111111", "payments-prod", "/Workloads/Prod", env="prod")
DEV = org("222222222222", "payments-dev", "/Workloads/Dev", env="dev")


def test_ou_rule_covers_the_ou_and_everything_below_it() -> None:
    rules = [{"match": {"ou": "/Workloads"}, "set": {"approvals_required": 2}}]
    result = effective(
        config(rules), snapshot(PROD, DEV, org("333333333333", "sandbox", "/Sandbox"))
    )
    assert result.config.approvals_required_for("payments-prod") == 2
    assert result.config.approvals_required_for("payments-dev") == 2
    assert result.config.approvals_required_for("sandbox") == 1


def test_later_rules_override_earlier_and_clauses_all_must_match() -> None:
    rules = [
        {
            "match": {"name": "payments-*"},
            "set": {"max_duration_minutes": 240, "regions": ["eu-west-1"]},
        },
        {
            "match": {"ou": "/Workloads/*", "tags": {"env": "prod"}},
            "set": {
                "max_duration_minutes": 60,
                "production": True,
                "ticket_pattern": "^CHG-\\d+$",
                "warning": "Customer data",
            },
        },
    ]
    result = effective(config(rules), snapshot(PROD, DEV))
    prod, dev = result.config.accounts["payments-prod"], result.config.accounts["payments-dev"]
    assert result.config.max_duration_for("payments-prod") == 60
    assert (
        prod.production and prod.ticket_pattern == "^CHG-\\d+$" and prod.warning == "Customer data"
    )
    assert result.config.max_duration_for("payments-dev") == 240 and not dev.production


def test_explicit_entry_keys_win_over_rules() -> None:
    rules = [
        {
            "match": {"ou": "/Workloads"},
            "set": {"approvals_required": 3, "login_roles": ["ReadOnly"]},
        }
    ]
    explicit = {
        "legacy": {
            "account_number": PROD.account_id,
            "iam_role": f"arn:aws:iam::{PROD.account_id}:role/old",
            "approvals_required": 1,
        }
    }
    result = effective(config(rules, explicit), snapshot(PROD))
    assert list(result.config.accounts) == ["legacy"]
    assert result.config.approvals_required_for("legacy") == 1
    assert result.config.login_roles_for("legacy") == ["ReadOnly"]


def test_excluded_and_clashing_accounts() -> None:
    rules = [{"match": {"tags": {"env": "dev"}}, "exclude": True}]
    twin = org("444444444444", "payments-prod", "/Other")
    result = effective(config(rules), snapshot(PROD, DEV, twin))
    assert sorted(result.config.accounts) == [
        "payments-prod-111111111111",
        "payments-prod-444444444444",
    ]


def test_an_account_a_rule_leaves_unusable_is_left_out_and_said_why() -> None:
    cfg = BotConfig.model_validate(
        {
            "organizations": {
                "iam_role": ROLE,
                "role_template": "arn:aws:iam::{account_id}:role/bot",
            },
            "approvalGroups": ["sre"],
            "rules": [{"match": {"name": "payments-*"}, "set": {"login_roles": ["Developer"]}}],
        }
    )
    result = effective(cfg, snapshot(PROD, org("555555555555", "misc")))
    assert list(result.config.accounts) == ["payments-prod"]
    assert result.problems == [
        "account misc (555555555555): no login_roles here and no global loginRoles"
    ]


def test_check_config_account_names_the_rules_and_settings() -> None:
    rules = [
        {
            "description": "all workloads",
            "match": {"ou": "/Workloads"},
            "set": {"approvals_required": 2},
        },
        {"description": "sandboxes", "match": {"ou": "/Sandbox"}, "set": {"production": False}},
        {"description": "prod", "match": {"tags": {"env": "prod"}}, "set": {"production": True}},
    ]
    lines = explain_account(config(rules), snapshot(PROD, DEV), PROD.account_id)
    assert lines[0] == "account 111111111111: payments-prod (from Organizations)"
    assert lines[1] == "rules applied: 0 (all workloads), 2 (prod)"
    assert "  payments-prod: 111111111111, mode inline_policy, production" in lines
    assert "    approval groups: sre (2 approval(s) needed)" in lines
    assert explain_account(config(rules), snapshot(PROD), "999999999999") == [
        "account 999999999999: in neither accounts: nor the organisation"
    ]


def test_bad_rules_are_refused_naming_the_key() -> None:
    text = """
loginRoles: [Developer]
approvalGroups: [sre]
organizations:
  iam_role: "arn:aws:iam::123456789012:role/r"
  role_template: "arn:aws:iam::111111111111:role/x"
rules:
  - match: {ou: "Workloads"}
    set: {ticket_pattern: "([", colour: red}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "bot.yml")
    problems = caught.value.problems
    assert any(
        p.startswith("organizations.role_template:") and "{account_id}" in p for p in problems
    )
    assert any(p.startswith("rules.0.match.ou:") for p in problems)
    assert any(
        p.startswith("rules.0.set.ticket_pattern:") and "regular expression" in p for p in problems
    )
    assert "rules.0.set.colour: unknown key (check its spelling)" in problems


def test_a_tag_rule_with_tags_not_read_is_refused_naming_the_rule() -> None:
    text = """
loginRoles: [Developer]
approvalGroups: [sre]
organizations:
  iam_role: "arn:aws:iam::123456789012:role/r"
  role_template: "arn:aws:iam::{account_id}:role/x"
  read_tags: false
rules:
  - match: {ou: "/Workloads"}
    set: {approvals_required: 2}
  - match: {tags: {env: prod}}
    set: {production: true}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "bot.yml")
    assert caught.value.problems == [
        "rules.1.match.tags: organizations.read_tags is false, so no account has tags to "
        "match: remove the clause or set read_tags: true"
    ]
    assert parse_config(text.replace("read_tags: false", "read_tags: true"), "bot.yml")


SEGMENT = st.text("abcXYZ-", min_size=1, max_size=6)


@given(st.lists(SEGMENT, min_size=1, max_size=4), st.lists(SEGMENT, max_size=3))
def test_an_ou_rule_matches_exactly_its_subtree(path: list[str], below: list[str]) -> None:
    rule = AccountRule.model_validate({"match": {"ou": "/" + "/".join(path)}})
    inside = Facts("x", "/" + "/".join(path + below), {})
    assert rule_matches(rule, inside)
    sibling = Facts("x", "/" + "/".join([*path[:-1], path[-1] + "z"]), {})
    assert not rule_matches(rule, sibling)
    assert not rule_matches(rule, Facts("x", None, {}))


@given(st.dictionaries(SEGMENT, SEGMENT, max_size=3), SEGMENT, SEGMENT)
def test_a_tag_rule_needs_every_tag(tags: dict[str, str], key: str, value: str) -> None:
    rule = AccountRule.model_validate({"match": {"tags": {key: value}}})
    assert rule_matches(rule, Facts("x", "/", tags)) == (tags.get(key) == value)


@pytest.mark.parametrize("name", ["organizations.yml", "identity-center-organizations.yml"])
def test_the_documented_organisation_examples_load_and_apply(name: str) -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / name
    loaded = parse_config(path.read_text(), name)
    result = effective(loaded, snapshot(PROD, DEV, org("333333333333", "play", "/Sandbox")))
    assert result.problems == []
    assert set(result.config.accounts) == {"payments-prod", "payments-dev", "play"}
    assert result.config.accounts["payments-prod"].production
    assert result.config.approvals_required_for("payments-prod") == 2
