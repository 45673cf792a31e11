"""The identity_center keys of issue 17 and the rules of a permission set request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloud_access_bot.config import (
    GROUPS_ACCOUNT,
    AccessMode,
    BotConfig,
    ConfigError,
    parse_config,
)
from cloud_access_bot.domain.approval import Outcome, decide_extension
from cloud_access_bot.domain.identity_center import target_problems
from cloud_access_bot.domain.model import AccessRequest, Status
from cloud_access_bot.slack.home import summary

ISSUE_EXAMPLE = """\
approvalGroups: [devops]
durations_minutes: [15, 60, 240]
identity_center:
  region: eu-west-1
  instance_arn: arn:aws:sso:::instance/ssoins-1234567890abcdef
  identity_store_id: d-1234567890
  iam_role: arn:aws:iam::999999999999:role/cloud-access-bot
  user_match: email
  groups:
    prod-support: {approval_groups: [sre], max_duration_minutes: 240}
accounts:
  prod:
    account_number: "222222222222"
    iam_role: arn:aws:iam::222222222222:role/cloud-access-bot
    access_mode: permission_set
    permission_sets:
      - ReadOnlyAccess
      - {name: AdministratorAccess, approvals_required: 2, approval_groups: [sre],
         max_duration_minutes: 60}
"""


def config() -> BotConfig:
    return parse_config(ISSUE_EXAMPLE, "cfg.yml")


def test_the_issue_example_loads_with_per_set_rules() -> None:
    loaded = config()

    assert [r.name for r in loaded.accounts["prod"].permission_sets] == [
        "ReadOnlyAccess",
        "AdministratorAccess",
    ]
    assert loaded.approvals_required_for("prod", "ReadOnlyAccess") == 1
    assert loaded.approvals_required_for("prod", "AdministratorAccess") == 2
    assert loaded.approval_groups_for("prod", "AdministratorAccess") == ["sre"]
    assert loaded.approval_groups_for("prod", "ReadOnlyAccess") == ["devops"]
    assert loaded.durations_for("prod", "AdministratorAccess") == [15, 60]


def test_a_permission_set_account_without_identity_center_is_refused_by_name() -> None:
    head, rest = ISSUE_EXAMPLE.split("identity_center:\n")
    without = head + rest[rest.index("accounts:") :]
    with pytest.raises(ConfigError) as refused:
        parse_config(without, "cfg.yml")
    assert "accounts.prod: access_mode permission_set needs identity_center" in (
        refused.value.problems
    )


def test_a_permission_set_account_must_list_its_sets() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(ISSUE_EXAMPLE.split("    permission_sets:")[0], "cfg.yml")
    assert any("needs permission_sets" in p for p in refused.value.problems)


def test_a_bad_instance_arn_names_the_key() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(ISSUE_EXAMPLE.replace("ssoins-1234567890abcdef", "nope"), "cfg.yml")
    assert any(p.startswith("identity_center.instance_arn:") for p in refused.value.problems)


def test_a_set_not_offered_in_the_account_is_refused_naming_what_is() -> None:
    problems = target_problems(
        config().rules_in_force(), "prod", permission_set="PowerUserAccess", group=None, minutes=15
    )

    assert "ReadOnlyAccess, AdministratorAccess" in problems["permission_set"]


def test_a_set_longer_than_its_own_maximum_is_refused() -> None:
    assert (
        "60-minute maximum"
        in target_problems(
            config().rules_in_force(),
            "prod",
            permission_set="AdministratorAccess",
            group=None,
            minutes=240,
        )["duration"]
    )
    assert (
        target_problems(
            config().rules_in_force(),
            "prod",
            permission_set="ReadOnlyAccess",
            group=None,
            minutes=240,
        )
        == {}
    )


def test_groups_come_as_an_account_of_their_own_with_each_groups_rules() -> None:
    loaded = config()
    groups = loaded.accounts[GROUPS_ACCOUNT]

    assert groups.access_mode is AccessMode.GROUP_MEMBERSHIP
    assert groups.account_number == "999999999999"
    assert loaded.approval_groups_for(GROUPS_ACCOUNT, "prod-support") == ["sre"]
    assert loaded.max_duration_for(GROUPS_ACCOUNT, "prod-support") == 240


def test_a_group_asked_for_in_a_permission_set_account_is_refused() -> None:
    problems = target_problems(
        config().rules_in_force(), "prod", permission_set=None, group="prod-support", minutes=15
    )
    assert problems == {"account": "prod does not grant what was asked for."}
    assert (
        target_problems(
            config().rules_in_force(),
            GROUPS_ACCOUNT,
            permission_set=None,
            group="prod-support",
            minutes=240,
        )
        == {}
    )
    assert (
        "not a group offered"
        in target_problems(
            config().rules_in_force(),
            GROUPS_ACCOUNT,
            permission_set=None,
            group="admins",
            minutes=15,
        )["permission_set"]
    )


def admin_request() -> AccessRequest:
    return AccessRequest(
        id="0123456789ab",
        requester_id="U1",
        requester_email="alice@example.com",
        account_name="prod",
        account_id="222222222222",
        login_role="AdministratorAccess",
        reason="incident",
        duration_minutes=60,
        services=(),
        created_at=datetime(2025, 3, 4, tzinfo=UTC),
        status=Status.ACTIVE,
        permission_set="AdministratorAccess",
    )


def test_an_extension_is_capped_by_the_permission_sets_own_maximum() -> None:
    decision = decide_extension(
        admin_request(), "U1", extra_minutes=15, rules=config().rules_in_force()
    )

    assert decision.outcome is Outcome.REFUSE
    assert "60-minute maximum" in decision.reason


def test_app_home_names_the_permission_set_or_group_of_a_request() -> None:
    assert summary(admin_request()) == "permission set AdministratorAccess"
    joined = admin_request().with_changes(permission_set=None, group="prod-support")
    assert summary(joined) == "group prod-support"
