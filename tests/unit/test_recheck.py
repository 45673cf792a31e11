"""The rules in force at approval and at grant time (guardrails.recheck)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.guardrails import recheck
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess
from tests.factories import access_request

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
BUCKET = ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::reports",))


def config(**top: Any) -> BotConfig:
    accounts = {
        "dev": {"account_number": "111111111111", "iam_role": "arn:aws:iam::111111111111:role/b"}
    }
    return BotConfig.model_validate(
        {"loginRoles": ["SSO"], "approvalGroups": ["devops"], "accounts": accounts, **top}
    )


def request(**changes: Any) -> AccessRequest:
    return access_request(
        requester_id="UREQ",
        requester_email="req@example.com",
        login_role="SSO",
        services=(BUCKET,),
        created_at=NOW - timedelta(minutes=5),
        timeout_at=NOW + timedelta(minutes=30),
    ).with_changes(**changes)


def check(req: AccessRequest, cfg: BotConfig, *, approving: bool = True) -> Any:
    levels = {"s3:GetObject": "Read"}
    return recheck(req, cfg.rules_in_force(), now=NOW, access_level=levels.get, approving=approving)


def test_a_request_under_unchanged_rules_goes_ahead() -> None:
    verdict = check(request(), config())
    assert verdict.refusal is None and verdict.capped_minutes is None


def test_each_changed_rule_refuses_with_its_reason() -> None:
    other = config().model_dump(mode="json")["accounts"]
    other["dev"] |= {
        "account_number": "222222222222",
        "iam_role": "arn:aws:iam::222222222222:role/b",
    }
    cases = [
        (request(account_id="999999999999"), config(), "999999999999 (dev) is no longer"),
        (request(), config(accounts=other), "111111111111 (dev) is no longer configured"),
        (request(), config(loginRoles=["Other"]), "Login role SSO is no longer configured"),
        (request(), config(never_grantable_actions=["s3:*"]), "s3:GetObject is never grantable"),
        (
            request(services=(ServiceAccess("s3", ("s3:GetObject",), ("arn:aws:s3:::r*",)),)),
            config(),
            "spans several s3 buckets",
        ),
        (request(timeout_at=NOW), config(), "timed out"),
    ]
    for req, cfg, reason in cases:
        refusal = check(req, cfg).refusal
        assert refusal is not None and reason in refusal, (reason, refusal)


def test_the_timeout_only_matters_when_approving() -> None:
    assert check(request(timeout_at=NOW), config(), approving=False).refusal is None


def test_a_lower_maximum_caps_the_duration_and_says_which() -> None:
    verdict = check(request(), config(max_duration_minutes=15, durations_minutes=[15]))
    assert verdict.refusal is None and verdict.capped_minutes == 15
    assert verdict.cap_note(60, "dev") == (
        "The maximum duration for dev is now 15 minutes, so this grant lasts 15 minutes "
        "instead of the 60 minutes asked for."
    )


def test_the_rules_are_those_of_the_recorded_account_under_its_name_now() -> None:
    """A renamed account keeps its requests; the name given to another account does not
    lend that account's rules (here: a looser never-grantable list and a longer maximum)."""
    accounts = {
        "dev-renamed": {
            "account_number": "111111111111",
            "iam_role": "arn:aws:iam::111111111111:role/b",
            "max_duration_minutes": 15,
        },
        "dev": {
            "account_number": "222222222222",
            "iam_role": "arn:aws:iam::222222222222:role/b",
            "allowed_dangerous_actions": ["s3:GetObject"],
        },
    }
    cfg = config(accounts=accounts, never_grantable_actions=["s3:GetObject"])
    refusal = check(request(), cfg).refusal
    assert refusal is not None and "s3:GetObject is never grantable" in refusal
    verdict = check(request(), config(accounts=accounts))
    assert verdict.refusal is None and verdict.capped_minutes == 15
