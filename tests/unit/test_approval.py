"""Approvals that can be trusted: who may approve, deny, cancel, revoke, extend — and why not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain import extension
from cloud_access_bot.domain.approval import (
    Decision,
    Outcome,
    auto_approval,
    decide_approval,
    decide_cancel,
    decide_denial,
    decide_extension,
    decide_revoke,
    people,
)
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess, Status
from cloud_access_bot.domain.reminders import next_reminder
from tests.factories import access_request

REQUESTER, ALICE, BOB, CAROL = "UREQ", "UALICE", "UBOB", "UCAROL"
WHEN = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
READ_ONLY = (ServiceAccess("s3", ("s3:GetObject", "s3:ListBucket"), ("arn:aws:s3:::reports",)),)
LEVELS = {"s3:GetObject": "Read", "s3:ListBucket": "List", "s3:PutObject": "Write"}


def account(number: int, **extra: Any) -> dict[str, Any]:
    digits = f"{number:012d}"
    return {"account_number": digits, "iam_role": f"arn:aws:iam::{digits}:role/bot", **extra}


def make_config(**top: Any) -> BotConfig:
    """dev: global @devops, one approval; prod: @sre, two approvals, production, 4 h max."""
    data = {
        "loginRoles": ["SSO-Devops"],
        "approvalGroups": ["devops"],
        "accounts": {
            "dev": account(1),
            "prod": account(
                2,
                production=True,
                approval_groups=["sre"],
                approvals_required=2,
                max_duration_minutes=240,
            ),
        },
        **top,
    }
    return BotConfig.model_validate(data)


def make_request(**changes: Any) -> AccessRequest:
    return access_request(
        requester_id=REQUESTER,
        requester_email="req@example.com",
        account_id="000000000001",
        login_role="SSO-Devops",
        services=READ_ONLY,
        created_at=WHEN,
    ).with_changes(**changes)


def approve(
    request: AccessRequest,
    clicker: str,
    *,
    member: bool = True,
    config: BotConfig | None = None,
    reason: str | None = None,
) -> Decision:
    return decide_approval(
        request,
        clicker,
        clicker_is_approver=member,
        rules=(config or make_config()).rules_in_force(),
        break_glass_reason=reason,
    )


# --- approve ----------------------------------------------------------------------------------


def test_an_approver_approves_a_single_approval_request() -> None:
    decision = approve(make_request(), ALICE)
    assert decision == Decision(Outcome.APPROVE, "Approved by <@UALICE>.")


def test_a_non_member_is_refused_and_told_which_groups_approve() -> None:
    decision = approve(make_request(), ALICE, member=False)
    assert decision.outcome is Outcome.REFUSE
    assert decision.reason == (
        "Only members of the approval groups for dev (@devops) can approve this request."
    )


def test_per_account_groups_are_the_ones_named() -> None:
    decision = approve(make_request(account_name="prod"), ALICE, member=False)
    assert "(@sre)" in decision.reason


def test_group_ids_are_named_as_slack_group_mentions() -> None:
    config = make_config(approvalGroups=["S0123ABC"])
    assert (
        "(<!subteam^S0123ABC>)"
        in approve(make_request(), ALICE, member=False, config=config).reason
    )


def test_requester_cannot_approve_their_own_request_by_default() -> None:
    decision = approve(make_request(), REQUESTER, reason="prod is down")
    assert decision.outcome is Outcome.REFUSE
    assert "cannot approve your own request" in decision.reason


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_break_glass_self_approval_needs_a_reason(reason: str | None) -> None:
    config = make_config(self_approval="break_glass")
    decision = approve(make_request(), REQUESTER, config=config, reason=reason)
    assert decision.outcome is Outcome.REFUSE
    assert "give a reason" in decision.reason


def test_break_glass_self_approval_with_a_reason_approves_at_once_and_says_so() -> None:
    config = make_config(self_approval="break_glass")
    request = make_request(account_name="prod")
    decision = approve(request, REQUESTER, config=config, reason="  prod is down  ")
    assert decision == Decision(
        Outcome.APPROVE, "Break-glass self-approval by <@UREQ>: prod is down", break_glass=True
    )


def test_break_glass_is_for_approvers_only() -> None:
    config = make_config(self_approval="break_glass")
    decision = approve(make_request(), REQUESTER, member=False, config=config, reason="urgent")
    assert decision.outcome is Outcome.REFUSE


def test_first_of_two_approvals_is_recorded() -> None:
    decision = approve(make_request(account_name="prod"), ALICE)
    assert decision == Decision(
        Outcome.RECORD, "Approval by <@UALICE> recorded: 1 of 2 approvals; waiting for 1 more."
    )


def test_second_distinct_approval_approves() -> None:
    decision = approve(make_request(account_name="prod", approvals=(ALICE,)), BOB)
    assert decision == Decision(Outcome.APPROVE, "Approved by <@UBOB> (2 of 2 approvals).")


def test_approving_twice_does_not_count_twice() -> None:
    decision = approve(make_request(account_name="prod", approvals=(ALICE,)), ALICE)
    assert decision.outcome is Outcome.REFUSE
    assert decision.reason == "You already approved this request; waiting for 1 more approval(s)."


def test_a_stricter_count_recorded_at_submission_still_applies() -> None:
    decision = approve(make_request(approvals_required=3, approvals=(ALICE,)), BOB)
    assert decision.outcome is Outcome.RECORD
    assert "2 of 3 approvals" in decision.reason


def test_a_stricter_current_config_applies_to_pending_requests() -> None:
    config = make_config(approvals_required=2)
    assert approve(make_request(), ALICE, config=config).outcome is Outcome.RECORD


def test_a_request_for_a_removed_account_cannot_be_approved() -> None:
    decision = approve(make_request(account_name="gone"), ALICE)
    assert decision.outcome is Outcome.REFUSE
    assert "no longer in the configuration" in decision.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"status": Status.APPROVED, "decided_by": ALICE, "decided_at": WHEN},
            "This request was already approved by <@UALICE> at 2024-05-01 10:00 UTC; "
            "access is being granted.",
        ),
        (
            {
                "status": Status.ACTIVE,
                "decided_by": "auto-approve",
                "decided_at": WHEN,
                "expires_at": WHEN.replace(hour=11),
            },
            "This request was already approved by auto-approve at 2024-05-01 10:00 UTC; "
            "access is active until 2024-05-01 11:00 UTC.",
        ),
        (
            {"status": Status.DENIED, "decided_by": BOB, "decision_reason": "use staging"},
            "This request was already denied by <@UBOB> (use staging).",
        ),
        (
            {"status": Status.CANCELLED, "decided_at": WHEN},
            "This request was cancelled by the requester at 2024-05-01 10:00 UTC.",
        ),
        (
            {"status": Status.TIMED_OUT, "decided_at": WHEN},
            "This request timed out at 2024-05-01 10:00 UTC without a decision.",
        ),
        (
            {"status": Status.EXPIRED, "decided_by": ALICE},
            "This request was approved by <@UALICE> and its access has expired.",
        ),
        (
            {"status": Status.REVOKED, "decided_by": BOB, "decided_at": WHEN},
            "This request's access was revoked by <@UBOB> at 2024-05-01 10:00 UTC.",
        ),
        (
            {"status": Status.FAILED, "failure_reason": "role not found"},
            "This request was approved but granting access failed: role not found.",
        ),
    ],
)
def test_a_late_click_is_told_what_happened(changes: dict[str, Any], reason: str) -> None:
    assert approve(make_request(**changes), CAROL) == Decision(Outcome.REFUSE, reason)


# --- deny, cancel, revoke, extend ---------------------------------------------------------------


def test_one_approver_denial_ends_even_a_multi_approval_request() -> None:
    request = make_request(account_name="prod", approvals=(ALICE,))
    decision = decide_denial(
        request, BOB, clicker_is_approver=True, rules=make_config().rules_in_force()
    )
    assert decision == Decision(Outcome.APPROVE, "Denied by <@UBOB>.")


def test_requester_is_pointed_to_cancel_instead_of_deny() -> None:
    decision = decide_denial(
        make_request(), REQUESTER, clicker_is_approver=True, rules=make_config().rules_in_force()
    )
    assert decision.outcome is Outcome.REFUSE
    assert "cancel it" in decision.reason


def test_non_member_cannot_deny() -> None:
    decision = decide_denial(
        make_request(), ALICE, clicker_is_approver=False, rules=make_config().rules_in_force()
    )
    assert (
        decision.reason
        == "Only members of the approval groups for dev (@devops) can deny this request."
    )


def test_denying_a_decided_request_says_what_happened() -> None:
    request = make_request(status=Status.APPROVED, decided_by=ALICE)
    decision = decide_denial(
        request, BOB, clicker_is_approver=True, rules=make_config().rules_in_force()
    )
    assert decision == Decision(
        Outcome.REFUSE, "This request was already approved by <@UALICE>; access is being granted."
    )


def test_requester_cancels_a_pending_request() -> None:
    assert decide_cancel(make_request(), REQUESTER).outcome is Outcome.APPROVE


def test_only_the_requester_cancels() -> None:
    decision = decide_cancel(make_request(), ALICE)
    assert decision == Decision(Outcome.REFUSE, "Only the requester can cancel this request.")


def test_an_approved_request_can_no_longer_be_cancelled() -> None:
    decision = decide_cancel(make_request(status=Status.ACTIVE, decided_by=ALICE), REQUESTER)
    assert decision.outcome is Outcome.REFUSE
    assert "already approved by <@UALICE>" in decision.reason


@pytest.mark.parametrize(("clicker", "member"), [(REQUESTER, False), (ALICE, True)])
def test_requester_or_approver_revokes_active_access(clicker: str, member: bool) -> None:
    decision = decide_revoke(
        make_request(status=Status.ACTIVE), clicker, clicker_is_approver=member
    )
    assert decision.outcome is Outcome.APPROVE


def test_others_cannot_revoke() -> None:
    decision = decide_revoke(make_request(status=Status.ACTIVE), CAROL, clicker_is_approver=False)
    assert decision.outcome is Outcome.REFUSE


def test_revoking_while_the_grant_is_being_made_asks_to_retry() -> None:
    decision = decide_revoke(
        make_request(status=Status.APPROVED), REQUESTER, clicker_is_approver=False
    )
    assert decision == Decision(
        Outcome.REFUSE, "Access is still being granted; try again in a moment."
    )


@pytest.mark.parametrize("status", [Status.PENDING, Status.EXPIRED, Status.REVOKED])
def test_only_active_access_is_revoked(status: Status) -> None:
    decision = decide_revoke(make_request(status=status), REQUESTER, clicker_is_approver=True)
    assert decision.outcome is Outcome.REFUSE


def extend(request: AccessRequest, clicker: str = REQUESTER, extra: int = 60) -> Decision:
    return decide_extension(
        request, clicker, extra_minutes=extra, rules=make_config().rules_in_force()
    )


def test_requester_asks_to_extend_within_the_maximum() -> None:
    decision = extend(make_request(status=Status.ACTIVE, account_name="prod"), extra=180)
    assert decision == Decision(
        Outcome.APPROVE,
        "Extension by 180 minutes asked by <@UREQ> (240 of at most 240 minutes).",
    )


def test_a_second_extension_waits_for_the_first_to_be_decided() -> None:
    waiting = make_request(status=Status.ACTIVE, pending_extension=30)
    assert extend(waiting) == Decision(
        Outcome.REFUSE, "An extension is already waiting for approval."
    )


def test_extension_beyond_the_maximum_says_how_much_is_left() -> None:
    decision = extend(make_request(status=Status.ACTIVE, account_name="prod"), extra=240)
    assert decision == Decision(
        Outcome.REFUSE,
        "Extending by 240 minutes would make 300 minutes in all, over the 240-minute maximum "
        "for prod; at most 180 more minutes can be asked for.",
    )


@pytest.mark.parametrize(
    ("request_", "clicker", "extra"),
    [
        (make_request(status=Status.ACTIVE), ALICE, 60),
        (make_request(status=Status.PENDING), REQUESTER, 60),
        (make_request(status=Status.EXPIRED), REQUESTER, 60),
        (make_request(status=Status.ACTIVE), REQUESTER, 0),
    ],
)
def test_extension_only_by_the_requester_of_active_access(
    request_: AccessRequest, clicker: str, extra: int
) -> None:
    assert extend(request_, clicker, extra).outcome is Outcome.REFUSE


# --- auto-approval ------------------------------------------------------------------------------


def auto(request: AccessRequest, rules: list[dict[str, Any]]) -> Decision | None:
    return auto_approval(request, make_config(auto_approve=rules).rules_in_force(), LEVELS.get)


def test_read_only_short_request_in_non_production_is_auto_approved_naming_the_rule() -> None:
    assert auto(make_request(), [{}]) == Decision(
        Outcome.APPROVE,
        "Auto-approved by rule auto_approve.0 (accounts: every non-production account; "
        "access levels: List, Read; up to 60 minutes).",
    )


def test_rule_without_accounts_never_covers_production() -> None:
    assert auto(make_request(account_name="prod"), [{}]) is None


def test_rule_listing_production_covers_it() -> None:
    decision = auto(make_request(account_name="prod"), [{"accounts": ["prod"]}])
    assert decision is not None
    assert "accounts: prod;" in decision.reason


def test_rule_listing_other_accounts_does_not_cover_this_one() -> None:
    assert auto(make_request(), [{"accounts": ["prod"]}]) is None


def test_a_write_action_is_not_auto_approved_by_a_read_rule() -> None:
    writes = (ServiceAccess("s3", ("s3:GetObject", "s3:PutObject"), ("arn:aws:s3:::reports",)),)
    assert auto(make_request(services=writes), [{}]) is None
    assert auto(make_request(services=writes), [{"access_levels": ["Read", "Write"]}]) is not None


def test_an_action_of_unknown_level_is_never_auto_approved() -> None:
    unknown = (ServiceAccess("s3", ("s3:Get*",), ("arn:aws:s3:::reports",)),)
    assert auto(make_request(services=unknown), [{}]) is None


def test_too_long_a_request_is_not_auto_approved() -> None:
    assert auto(make_request(duration_minutes=120), [{}]) is None
    assert auto(make_request(duration_minutes=120), [{"max_duration_minutes": 120}]) is not None


def test_the_first_matching_rule_is_named() -> None:
    decision = auto(make_request(account_name="prod"), [{}, {"accounts": ["prod"]}])
    assert decision is not None
    assert "auto_approve.1" in decision.reason


def test_no_rules_no_auto_approval() -> None:
    assert auto(make_request(), []) is None


def test_a_request_without_actions_is_never_auto_approved() -> None:
    assert auto(make_request(services=()), [{}]) is None


# --- properties over random rule sets -----------------------------------------------------------

USERS = [REQUESTER, ALICE, BOB, CAROL, "UDAVE"]
GROUPS = ["devops", "sre", "security"]


@st.composite
def configs(draw: st.DrawFn) -> BotConfig:
    """1–3 accounts with random groups, counts and production flags; either self-approval."""
    names = draw(
        st.lists(st.sampled_from(["dev", "stage", "prod"]), min_size=1, max_size=3, unique=True)
    )
    global_groups = draw(st.lists(st.sampled_from(GROUPS), max_size=2, unique=True))
    accounts = {}
    for number, name in enumerate(names, start=1):
        extra: dict[str, Any] = {"production": draw(st.booleans())}
        groups = draw(st.lists(st.sampled_from(GROUPS), max_size=2, unique=True))
        if groups or not global_groups:
            extra["approval_groups"] = groups or ["fallback"]
        count = draw(st.none() | st.integers(1, 4))
        if count is not None:
            extra["approvals_required"] = count
        accounts[name] = account(number, **extra)
    return BotConfig.model_validate(
        {
            "loginRoles": ["SSO"],
            "approvalGroups": global_groups,
            "accounts": accounts,
            "approvals_required": draw(st.integers(1, 4)),
            "self_approval": draw(st.sampled_from(["deny", "break_glass"])),
        }
    )


@st.composite
def situations(draw: st.DrawFn) -> tuple[BotConfig, AccessRequest, str, bool, str | None]:
    """A request (pending half the time) and a click (by its requester half the time)."""
    config = draw(configs())
    request = make_request(
        account_name=draw(st.sampled_from(sorted(config.accounts))),
        requester_id=draw(st.sampled_from(USERS)),
        status=draw(st.just(Status.PENDING) | st.sampled_from(Status)),
        approvals=tuple(draw(st.lists(st.sampled_from(USERS), max_size=4, unique=True))),
        approvals_required=draw(st.integers(1, 4)),
        decided_by=draw(st.none() | st.sampled_from(USERS)),
    )
    clicker = draw(st.just(request.requester_id) | st.sampled_from(USERS))
    reason = draw(st.sampled_from([None, "", "  ", "prod is down"]))
    return config, request, clicker, draw(st.booleans()), reason


@settings(max_examples=400, deadline=None)
@given(situations())
def test_approval_is_only_ever_granted_as_the_rules_say(
    situation: tuple[BotConfig, AccessRequest, str, bool, str | None],
) -> None:
    config, request, clicker, member, reason = situation
    decision = decide_approval(
        request,
        clicker,
        clicker_is_approver=member,
        rules=config.rules_in_force(),
        break_glass_reason=reason,
    )
    assert decision.reason
    if decision.outcome is Outcome.REFUSE:
        assert not decision.break_glass
        return
    assert request.status is Status.PENDING
    assert member
    if clicker == request.requester_id:
        assert config.self_approval == "break_glass"
        assert reason and reason.strip()
        assert decision.outcome is Outcome.APPROVE and decision.break_glass
        return
    assert not decision.break_glass
    assert clicker not in request.approvals
    distinct = {*request.approvals, clicker} - {request.requester_id}
    required = max(config.approvals_required_for(request.account_name), request.approvals_required)
    if decision.outcome is Outcome.APPROVE:
        assert len(distinct) >= required
    else:
        assert len(distinct) < required


@settings(max_examples=200, deadline=None)
@given(situations())
def test_an_approver_on_a_pending_request_of_someone_else_is_never_turned_away(
    situation: tuple[BotConfig, AccessRequest, str, bool, str | None],
) -> None:
    config, request, clicker, _, _ = situation
    request = request.with_changes(status=Status.PENDING)
    if clicker == request.requester_id or clicker in request.approvals:
        return
    decision = decide_approval(
        request, clicker, clicker_is_approver=True, rules=config.rules_in_force()
    )
    assert decision.outcome in (Outcome.APPROVE, Outcome.RECORD)


@settings(max_examples=200, deadline=None)
@given(situations())
def test_deny_cancel_and_revoke_follow_who_and_when(
    situation: tuple[BotConfig, AccessRequest, str, bool, str | None],
) -> None:
    config, request, clicker, member, _ = situation
    is_requester = clicker == request.requester_id
    pending, active = request.status is Status.PENDING, request.status is Status.ACTIVE
    denial = decide_denial(
        request, clicker, clicker_is_approver=member, rules=config.rules_in_force()
    )
    assert (denial.outcome is Outcome.APPROVE) == (pending and member and not is_requester)
    cancel = decide_cancel(request, clicker)
    assert (cancel.outcome is Outcome.APPROVE) == (pending and is_requester)
    revoke = decide_revoke(request, clicker, clicker_is_approver=member)
    assert (revoke.outcome is Outcome.APPROVE) == (active and (is_requester or member))
    assert all(d.outcome is not Outcome.RECORD for d in (denial, cancel, revoke))


def test_emails_of_one_person_compare_equal_across_case_tags_and_alias_domains() -> None:
    from cloud_access_bot.domain.approval import same_person

    aliases = {"example.co.uk": "example.com"}
    assert same_person("alice@example.com", "ALICE+ops@Example.co.uk", aliases)
    assert not same_person("alice@example.com", "alice@example.co.uk", {})
    assert not same_person("alice@example.com", "malice@example.com", aliases)
    assert not same_person("alice@example.com", None, aliases)


# --- an extension's steps on its request, and reminders ----------------------------------------


def active() -> AccessRequest:
    return make_request(status=Status.ACTIVE, starts_at=WHEN, expires_at=WHEN + timedelta(hours=1))


def test_approvals_gather_on_the_waiting_extension_and_go_when_it_is_written() -> None:
    waiting = extension.approved_by(
        extension.approved_by(extension.asked(active(), 30), "UA"), "UB"
    )
    assert (waiting.pending_extension, waiting.extension_approvals) == (30, ("UA", "UB"))

    longer = extension.extended(waiting, 30)

    assert longer.expires_at == WHEN + timedelta(minutes=90)
    assert longer.duration_minutes == 90
    assert (longer.pending_extension, longer.extension_approvals) == (0, ())
    assert longer.starts_at == WHEN


def test_asking_again_after_a_refusal_starts_with_no_approvals() -> None:
    refused = extension.cleared(extension.approved_by(extension.asked(active(), 30), "UA"))
    assert refused == active()
    assert extension.asked(refused, 15).extension_approvals == ()


def test_the_next_reminder_is_the_first_scheduled_moment_after_now() -> None:
    schedule = [240, 60, 120]
    assert next_reminder(WHEN, WHEN, schedule) == WHEN + timedelta(minutes=60)
    assert next_reminder(WHEN, WHEN + timedelta(minutes=60), schedule) == WHEN + timedelta(
        minutes=120
    )
    assert next_reminder(WHEN, WHEN + timedelta(minutes=240), schedule) is None


def test_one_persons_slack_accounts_count_as_one_person() -> None:
    aliases = {"example.co.uk": "example.com"}
    emails = ["bob@example.com", "BOB+ops@example.co.uk", "carol@example.com"]
    assert people(emails, aliases) == 2
    assert people(emails, {}) == 3
    # An account without an email is nobody else's: it counts on its own.
    assert people(["bob@example.com", None, None], aliases) == 3
    assert people([], aliases) == 0
