"""Approver entries and the pure choices over them: parsing, the fallback, who may decide,
who gets an information copy, the configuration's levels and the refusals' words."""

from __future__ import annotations

import pytest

from cloud_access_bot.config import ConfigError, parse_config
from cloud_access_bot.config_rules import effective
from cloud_access_bot.domain import approval
from cloud_access_bot.domain.approval import Outcome
from cloud_access_bot.domain.approvers import (
    ApproverSpec,
    Kind,
    choose,
    deciders,
    information_only,
    parse_approver,
)
from cloud_access_bot.domain.model import EventType, Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import sandbox_config
from tests.factories import access_request


@pytest.mark.parametrize(
    ("written", "kind", "value"),
    [
        ("U0123ABCD", Kind.USER, "U0123ABCD"),
        ("W0123ABCD", Kind.USER, "W0123ABCD"),
        ("Alice@Example.com", Kind.EMAIL, "alice@example.com"),
        ("S0123ABCD", Kind.GROUP, "S0123ABCD"),
        ("@sre", Kind.GROUP, "@sre"),
        ("sre", Kind.GROUP, "sre"),
        ("#prod-approvers", Kind.CHANNEL, "#prod-approvers"),
        ("C0123ABCDE", Kind.CHANNEL, "C0123ABCDE"),
        ("G0123ABCDE", Kind.CHANNEL, "G0123ABCDE"),
    ],
)
def test_each_form_of_entry_names_its_kind(written: str, kind: Kind, value: str) -> None:
    assert parse_approver(written) == ApproverSpec(kind, value)


@pytest.mark.parametrize("written", ["", "Prod Approvers", "#Prod", "alice@", "@"])
def test_an_entry_naming_nobody_says_what_is_allowed(written: str) -> None:
    with pytest.raises(ValueError, match="names nobody: use a Slack user id"):
        parse_approver(written)


def test_the_fallback_joins_the_primary_approvers_when_given() -> None:
    # The service passes a fallback only when the primary approvers are too few people.
    assert choose(["U1", "U2"], [], {"U1"}) == (["U1", "U2"], False)
    assert choose(["U1", "U2"], ["U9"], {"U1"}) == (["U1", "U2", "U9"], True)
    assert choose([], ["U9"], {"U1"}) == (["U9"], True)
    # Only the requester: the fallback joins (the requester keeps a break-glass click).
    assert choose(["U1"], ["U9"], {"U1"}) == (["U1", "U9"], True)
    # The requester's second Slack account is the requester too.
    assert choose(["U1", "U1ALT"], ["U9"], {"U1", "U1ALT"}) == (["U1", "U1ALT", "U9"], True)
    # A fallback of nobody (or only the requester) changes nothing: submit refuses.
    assert choose([], ["U1"], {"U1"}) == ([], False)


def test_only_recorded_approvers_still_in_the_current_set_decide() -> None:
    assert deciders(["U1", "U2", "U3"], {"U2", "U3", "U4"}) == ["U2", "U3"]


def test_an_approver_who_is_also_notified_gets_no_information_copy() -> None:
    assert information_only(["U5", "U1", "U5"], {"U1", "U2"}) == ["U5"]


def test_approvers_come_from_the_most_specific_level_that_names_any() -> None:
    config = sandbox_config(
        approvers=["U0GLOBAL"],
        accounts={
            "dev": {
                "account_number": "111111111111",
                "iam_role": "arn:aws:iam::111111111111:role/bot",
                "approvers": ["alice@example.com", "#prod-approvers"],
                "approval_channel": "#sre-approvals",
                "approval_dms": False,
            },
            "prod": {
                "account_number": "222222222222",
                "iam_role": "arn:aws:iam::222222222222:role/bot",
                "approval_groups": ["sre"],
            },
        },
        fallback_approvers=["U0ONCALL"],
        notify=["#access-log"],
    )
    rules = config.rules_in_force()
    dev, prod = rules.accounts["dev"], rules.accounts["prod"]

    assert [str(s) for s in dev.limits.approvers] == ["alice@example.com", "#prod-approvers"]
    assert (dev.approval_channel, dev.approval_dms) == ("#sre-approvals", False)
    assert [str(s) for s in prod.limits.approvers] == ["sre"]  # groups alone, as today
    assert (prod.approval_channel, prod.approval_dms) == (None, True)
    assert [str(s) for s in prod.limits.fallback_approvers] == ["U0ONCALL"]
    assert [str(s) for s in prod.limits.notify] == ["#access-log"]
    # The global level merges approvalGroups and approvers.
    merged = sandbox_config(approvers=["U0X"]).rules_for("development").limits.approvers
    assert [str(s) for s in merged] == ["devops", "U0X"]


def test_a_rule_sets_approvers_and_an_approval_channel() -> None:
    config = parse_config(
        """
loginRoles: [Dev]
approvalGroups: [devops]
rules:
  - match: {name: "prod-*"}
    set: {approvers: ["@sre", "bob@example.com"], approval_channel: "#prod-approvals"}
accounts:
  prod-web:
    account_number: "111122223333"
    iam_role: arn:aws:iam::111122223333:role/bot
""",
        "cfg.yml",
    )
    account = effective(config, None).config.rules_for("prod-web")

    # The account now names approvers (through the rule): the global approvalGroups step aside.
    assert [str(s) for s in account.limits.approvers] == ["@sre", "bob@example.com"]
    assert account.approval_channel == "#prod-approvals"


def test_bad_approver_keys_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            """
loginRoles: [Dev]
approvers: ["Prod Approvers"]
approval_channel: "Not a channel"
approval_dms: false
accounts:
  dev:
    account_number: "111122223333"
    iam_role: arn:aws:iam::111122223333:role/bot
    notify: [alice@]
""",
            "cfg.yml",
        )
    problems = caught.value.problems
    assert any(p.startswith("approvers: 'Prod Approvers' names nobody") for p in problems)
    channel = "approval_channel: 'Not a channel' is not a Slack channel"
    assert any(p.startswith(channel) for p in problems)
    assert any(p.startswith("accounts.dev.notify: 'alice@' names nobody") for p in problems)


def test_no_dms_and_no_channel_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match="approval_dms is false and no approval_channel"):
        sandbox_config(approval_dms=False)


def test_a_clicker_added_after_submission_is_told_the_approvers_were_fixed() -> None:
    rules = sandbox_config().rules_in_force()
    request = access_request(account_name="development", approvers=("U0BOB",))

    later = approval.decide_approval(
        request, "U0DAVE", clicker_is_approver=True, rules=rules, clicker_was_asked=False
    )
    removed = approval.decide_approval(
        request, "U0BOB", clicker_is_approver=False, rules=rules, clicker_was_asked=True
    )

    assert later.outcome is Outcome.REFUSE and "fixed when it was made" in later.reason
    assert removed.outcome is Outcome.REFUSE
    assert removed.reason.startswith("Only members of the approval groups for development")


def test_a_refusal_names_approvers_that_are_not_groups() -> None:
    rules = sandbox_config(
        accounts={
            "dev": {
                "account_number": "111111111111",
                "iam_role": "arn:aws:iam::111111111111:role/bot",
                "approvers": ["U0DAVE", "#prod-approvers"],
            }
        }
    ).rules_in_force()
    request = access_request(account_name="dev", approvers=("U0DAVE",))

    refused = approval.decide_denial(request, "U0MALLORY", clicker_is_approver=False, rules=rules)

    assert refused.reason == (
        "You may not deny this request: only its approvers for dev (<@U0DAVE>, "
        "#prod-approvers) can, and you are not (or no longer) one of them."
    )


def test_each_step_of_a_channel_card_has_a_threaded_line() -> None:
    recorded = access_request(approvals=("U0BOB",), approvals_required=2)
    revoked = access_request(status=Status.REVOKED)

    assert views.thread_text(recorded, EventType.APPROVAL_ADDED, "U0BOB") == (
        ":heavy_plus_sign: Approval added by <@U0BOB>: 1 of 2 approvals."
    )
    assert views.thread_text(recorded, EventType.APPROVED, "U0CAROL").startswith(
        ":white_check_mark: Approved by <@U0CAROL>"
    )
    assert views.thread_text(revoked, EventType.REVOKED, "U0ALICE").endswith("by <@U0ALICE>")
    assert EventType.REMINDED not in views.THREAD_EVENTS
