"""The YAML schema: perkbox files load unchanged, every mistake is reported with its key path."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest

from cloud_access_bot.config import AccessMode, ConfigError, SelfApproval, parse_config
from tests.unit.config_samples import THREE_MISTAKES

# perkbox's example from DESIGN.md, plus the two perkbox keys it does not show.
PERKBOX = """\
loginRoles: [SSO-Devops]
approvalGroups: [devops]
regions: [eu-west-1, eu-west-2]
accounts:
  perkbox-development:
    account_number: "123456789012"
    iam_role: "arn:aws:iam::123456789012:role/request-access-bot"
dynamoDbTable: cloud_access_bot
request_command: request
identiyRegion: eu-west-1
audit_command: audit
"""


def minimal(**extra: str) -> str:
    """A valid one-account file, with extra top-level YAML lines appended."""
    lines = [
        "loginRoles: [Dev]",
        "approvalGroups: [devops]",
        "accounts:",
        "  dev:",
        "    account_number: '111122223333'",
        "    iam_role: arn:aws:iam::111122223333:role/bot",
    ]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def problems_of(text: str, source: str = "cfg.yml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source)
    assert caught.value.source == source
    return caught.value.problems


def test_perkbox_example_loads_unchanged() -> None:
    config = parse_config(PERKBOX, "s3://bucket/config.yml")

    account = config.accounts["perkbox-development"]
    assert config.login_roles == ["SSO-Devops"]
    assert config.approval_groups == ["devops"]
    assert config.regions == ["eu-west-1", "eu-west-2"]
    assert account.account_number == "123456789012"
    assert account.iam_role == "arn:aws:iam::123456789012:role/request-access-bot"
    assert account.access_mode is AccessMode.INLINE_POLICY
    assert config.dynamodb_table == "cloud_access_bot"
    assert config.request_command == "request"
    assert config.identity_region == "eu-west-1"
    assert config.audit_command == "audit"
    assert config.login_roles_for("perkbox-development") == ["SSO-Devops"]
    assert config.approval_groups_for("perkbox-development") == ["devops"]
    assert config.self_approval is SelfApproval.DENY


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("123456789012", "123456789012"),  # unquoted: YAML would make it an int
        ("012345678901", "012345678901"),  # leading zero, not valid octal
        ("012345670123", "012345670123"),  # leading zero, valid octal in YAML 1.1
        ('"012345670123"', "012345670123"),
    ],
)
def test_account_number_is_kept_as_written(written: str, expected: str) -> None:
    text = PERKBOX.replace('"123456789012"\n', f"{written}\n").replace(
        "arn:aws:iam::123456789012:", f"arn:aws:iam::{expected}:"
    )

    config = parse_config(text, "cfg.yml")

    assert config.accounts["perkbox-development"].account_number == expected


def test_numbers_still_load_as_numbers() -> None:
    config = parse_config(
        minimal(durations_minutes="[1, 15, 60]", max_duration_minutes="60", create_table="true"),
        "cfg.yml",
    )

    assert config.durations_minutes == [1, 15, 60]
    assert config.max_duration_minutes == 60
    assert config.create_table is True
    assert config.durations_for("dev") == [1, 15, 60]


def test_three_mistakes_are_all_reported_with_key_path_and_source() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(THREE_MISTAKES, "s3://cfg-bucket/bot.yml")

    problems = caught.value.problems
    assert len(problems) == 3, problems
    assert any(p.startswith("regions:") and "'eu-wset-2'" in p for p in problems)
    assert any(
        p.startswith("accounts.dev.account_number:") and "12345678901" in p for p in problems
    )
    assert any(p.startswith("accounts.prod.iam_role:") and "role ARN" in p for p in problems)
    assert all(
        line.startswith("s3://cfg-bucket/bot.yml: ") for line in str(caught.value).splitlines()
    )


def test_duplicate_account_numbers_are_reported() -> None:
    text = minimal() + (
        "  dev2:\n"
        "    account_number: '111122223333'\n"
        "    iam_role: arn:aws:iam::111122223333:role/bot\n"
    )
    text = text.replace("accounts:\n", "").replace("  dev:", "accounts:\n  dev:")

    problems = problems_of(text)

    assert problems == ["accounts.dev2.account_number: 111122223333 is also account dev"]


def test_duplicate_yaml_key_is_reported_with_its_line() -> None:
    problems = problems_of(minimal() + "loginRoles: [Other]\n")

    assert len(problems) == 1
    assert problems[0].startswith("line 7, column 1:")
    assert "duplicate key 'loginRoles'" in problems[0]


def test_unknown_key_is_reported() -> None:
    problems = problems_of(minimal(aprovalGroups="[x]"))

    assert problems == ["aprovalGroups: unknown key (check its spelling)"]


def test_unknown_key_inside_an_account_is_reported() -> None:
    problems = problems_of(minimal().replace("    iam_role:", "    iam_rol: x\n    iam_role:"))

    assert problems == ["accounts.dev.iam_rol: unknown key (check its spelling)"]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_file(text: str) -> None:
    assert problems_of(text) == ["the file is empty"]


def test_yaml_syntax_error_names_the_line() -> None:
    text = "loginRoles: [Dev]\naccounts:\n  dev: {account_number: '1'\nregions: [eu-west-1]\n"

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].startswith("line 4, column 1: not valid YAML")


def test_a_list_is_not_a_config() -> None:
    assert problems_of("- a\n- b\n") == ["the file must be a YAML mapping of keys to values"]


def test_missing_accounts() -> None:
    assert problems_of("loginRoles: [Dev]\n") == [
        "accounts: at least one account is required (or organizations)"
    ]


def test_role_must_be_in_its_account() -> None:
    text = minimal().replace(
        "arn:aws:iam::111122223333:role/bot", "arn:aws:iam::999988887777:role/bot"
    )

    problems = problems_of(text)

    assert problems == [
        "accounts.dev: iam_role arn:aws:iam::999988887777:role/bot is in account "
        "999988887777, not in account_number 111122223333"
    ]


def test_account_without_roles_or_groups_anywhere() -> None:
    text = minimal().replace("loginRoles: [Dev]\n", "").replace("approvalGroups: [devops]\n", "")

    problems = problems_of(text)

    assert problems == [
        "accounts.dev: no login_roles here and no global loginRoles",
        "accounts.dev: no approval_groups here and no global approvalGroups",
    ]


def test_session_credentials_needs_a_broker_role() -> None:
    text = minimal().replace("    iam_role:", "    access_mode: session_credentials\n    iam_role:")

    assert problems_of(text) == ["accounts.dev: access_mode session_credentials needs broker_role"]


def test_source_identity_binding_needs_a_login_role() -> None:
    broker = "    broker_role: arn:aws:iam::111122223333:role/broker\n"
    text = minimal().replace(
        "    iam_role:",
        f"    access_mode: session_credentials\n{broker}    bind: source_identity\n    iam_role:",
    )

    assert problems_of(text) == [
        "accounts.dev: bind source_identity needs a login role (not session_credentials)"
    ]
    bound = parse_config(
        minimal().replace("    iam_role:", "    bind: source_identity\n    iam_role:"), "x"
    )
    assert bound.accounts["dev"].bind.value == "source_identity"
    assert "sso:*" in parse_config(minimal(), "x").never_grantable_actions


def test_per_account_overrides() -> None:
    text = minimal(max_duration_minutes="240").replace(
        "    iam_role:",
        "    login_roles: [Admin]\n    approval_groups: [leads]\n    approvals_required: 2\n"
        "    max_duration_minutes: 60\n    regions: [us-east-1]\n    iam_role:",
    )

    config = parse_config(text, "cfg.yml")

    assert config.login_roles_for("dev") == ["Admin"]
    assert config.approval_groups_for("dev") == ["leads"]
    assert config.approvals_required_for("dev") == 2
    assert config.max_duration_for("dev") == 60
    assert config.durations_for("dev") == [15, 30, 60]
    assert config.regions_for("dev") == ["us-east-1"]
    assert config.account("dev") is config.accounts["dev"]
    assert config.account("nope") is None


def test_rules_carry_each_accounts_effective_settings_as_plain_values() -> None:
    text = minimal(max_duration_minutes="240", self_approval="break_glass").replace(
        "    iam_role:",
        "    approvals_required: 2\n    max_duration_minutes: 60\n    production: true\n"
        "    allowed_dangerous_actions: ['iam:PassRole']\n    iam_role:",
    )

    rules = parse_config(text, "cfg.yml").rules_in_force()

    dev = rules.account("dev")
    assert dev is not None and rules.account("nope") is None
    limits = dev.limits
    assert (limits.approvals_required, limits.max_duration_minutes) == (2, 60)
    assert limits.durations == (15, 30, 60) and limits.approval_groups == ("devops",)
    assert dev.limits_for("no such set") is limits and dev.targets == {}
    assert dev.production and dev.allowed_dangerous_actions == ("iam:PassRole",)
    assert rules.self_approval is SelfApproval.BREAK_GLASS
    assert "sso:*" in rules.never_grantable_actions
    with pytest.raises(FrozenInstanceError):
        limits.max_duration_minutes = 720  # type: ignore[misc]


def test_account_with_no_duration_under_its_maximum() -> None:
    text = minimal(durations_minutes="[60, 120]").replace(
        "    iam_role:", "    max_duration_minutes: 30\n    iam_role:"
    )

    assert problems_of(text) == [
        "accounts.dev: no entry of durations_minutes is within its maximum of 30 minutes"
    ]


def test_auto_approve_rule_naming_an_unknown_account() -> None:
    problems = problems_of(minimal() + "auto_approve:\n  - accounts: [stage]\n")

    assert problems == ["auto_approve.0.accounts: unknown account 'stage'"]


def test_bad_extension_values_are_each_reported() -> None:
    text = (
        minimal(
            durations_minutes="[0]",
            self_approval="always",
            never_grantable_actions="['iam *']",
            reminder_minutes="[0]",
            request_command="'Request Access'",
            identiyRegion="moon-1",
        )
        + "presets:\n  p: {actions: ['not an action']}\n"
    )

    problems = problems_of(text)

    assert sorted(p.split(":")[0] for p in problems) == [
        "durations_minutes",
        "identiyRegion",
        "never_grantable_actions",
        "presets.p.actions",
        "reminder_minutes",
        "request_command",
        "self_approval",
    ]


def test_one_minute_duration_is_allowed() -> None:
    config = parse_config(minimal(durations_minutes="[1]"), "cfg.yml")

    assert config.durations_for("dev") == [1]


def test_request_command_slash_is_dropped() -> None:
    assert parse_config(minimal(request_command="/access"), "cfg.yml").request_command == "access"


def test_email_alias_domains_must_be_domains() -> None:
    good = parse_config(minimal(email_alias_domains="{Example.CO.UK: example.com}"), "t.yml")
    assert good.email_alias_domains == {"example.co.uk": "example.com"}
    [problem] = problems_of(minimal(email_alias_domains="{'not a domain': example.com}"))
    assert "email_alias_domains" in problem and "is not an email domain" in problem


TWO_ACCOUNTS = """\
loginRoles: [Dev]
approvalGroups: [devops]
accounts:
  dev:
    account_number: '111122223333'
    iam_role: arn:aws:iam::111122223333:role/bot
  ops:
    account_number: '111122223333'
    iam_role: arn:aws:iam::111122223333:role/bot
auto_approve: [{accounts: [dev, staging]}]
"""


def test_field_and_cross_field_problems_come_in_one_report() -> None:
    """pydantic skips a model's cross-checks once a field fails: they are still reported."""
    text = TWO_ACCOUNTS + "regions: [eu-wset-2]\npending_timeout_minutes: 60\n"
    text += "reminder_minutes: [30, 90]\n"

    assert problems_of(text) == [
        "regions: 'eu-wset-2' is not a known AWS region",
        "accounts.ops.account_number: 111122223333 is also account dev",
        "auto_approve.0.accounts: unknown account 'staging'",
        "reminder_minutes: 90 is not before pending_timeout_minutes (60): "
        "the request times out first",
    ]


def test_a_failing_account_hides_none_of_the_other_problems() -> None:
    text = TWO_ACCOUNTS.replace("'111122223333'", "'1111'", 1)

    assert problems_of(text) == [
        "accounts.dev.account_number: '1111' is not a 12-digit AWS account number",
        "auto_approve.0.accounts: unknown account 'staging'",
    ]


def test_written_durations_above_the_maximum_are_a_mistake() -> None:
    problems = problems_of(
        minimal(
            durations_minutes="[15, 60, 240]",
            max_duration_minutes="60",
            auto_approve="[{max_duration_minutes: 120}]",
        )
    )

    assert problems == [
        "durations_minutes: 240 is above max_duration_minutes (60)",
        "auto_approve.0.max_duration_minutes: 120 is above max_duration_minutes (60)",
    ]
    # The default list above a lower maximum is simply cut, as before.
    assert parse_config(minimal(max_duration_minutes="60"), "cfg.yml").durations_for("dev") == [
        15,
        30,
        60,
    ]


@pytest.mark.parametrize("channel", ["Access Audit", "#audit!", "#" + "a" * 81, "#Audit"])
def test_a_malformed_audit_channel_is_refused(channel: str) -> None:
    [problem] = problems_of(minimal(audit_channel=f"'{channel}'"))

    assert problem.startswith(f"audit_channel: {channel!r} is not a Slack channel")


@pytest.mark.parametrize("channel", ["#access-audit", "access_audit", "C0123ABCD9"])
def test_channel_names_and_ids_are_accepted(channel: str) -> None:
    assert parse_config(minimal(audit_channel=f"'{channel}'"), "cfg.yml").audit_channel == channel
