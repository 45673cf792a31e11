"""The rules of a request over several accounts (domain/batch.py): the strictest rule of its
accounts, which accounts may go together, and which account a typed ARN goes to."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cloud_access_bot.domain.batch import Terms, accounts_problem, arn_accounts, strictest
from cloud_access_bot.domain.rules import AccessMode
from cloud_access_bot.ports import Audience
from cloud_access_bot.service_batch import combined

DEV = Terms(approvals_required=1, ticket_required=False, auto_approves=True)
PROD = replace(DEV, approvals_required=2, ticket_required=True, auto_approves=False)


def test_the_strictest_of_every_account_applies() -> None:
    rule = strictest([DEV, PROD])
    assert rule.approvals_required == 2
    assert rule.ticket_required is True
    assert rule.auto_approves is False


def test_order_of_the_accounts_does_not_weaken_the_rule() -> None:
    forwards, backwards = strictest([DEV, PROD]), strictest([PROD, DEV])
    assert forwards.approvals_required == backwards.approvals_required == 2
    assert forwards.ticket_required is backwards.ticket_required is True


def test_auto_approval_only_when_every_account_would() -> None:
    assert strictest([DEV, DEV]).auto_approves is True
    assert strictest([DEV, replace(DEV, auto_approves=False)]).auto_approves is False


def test_one_account_is_its_own_rule() -> None:
    rule = strictest([DEV])
    assert (rule.approvals_required, rule.ticket_required, rule.auto_approves) == (1, False, True)


def test_no_account_is_a_bug() -> None:
    with pytest.raises(ValueError):
        strictest([])


MODES = {
    "dev": AccessMode.INLINE_POLICY,
    "prod": AccessMode.INLINE_POLICY,
    "sandbox": AccessMode.MANAGED_POLICY,
    "sso": AccessMode.PERMISSION_SET,
}


def test_accounts_granting_the_same_way_go_together() -> None:
    assert accounts_problem(["dev", "prod"], MODES, limit=20) is None


def test_a_different_access_mode_is_refused_naming_both() -> None:
    problem = accounts_problem(["dev", "sandbox"], MODES, limit=20)
    assert problem and "sandbox grants with managed_policy and dev with inline_policy" in problem


def test_identity_center_accounts_are_asked_for_alone() -> None:
    problem = accounts_problem(["dev", "sso"], MODES, limit=20)
    assert problem and "sso grants through IAM Identity Center" in problem


def test_unknown_account_is_refused() -> None:
    problem = accounts_problem(["dev", "secret"], MODES, limit=20)
    assert problem == "Unknown account 'secret': pick accounts from the list."


def test_more_accounts_than_the_limit_are_refused_with_the_numbers() -> None:
    problem = accounts_problem(["dev", "prod"], MODES, limit=1)
    assert problem and "at most 1 accounts; 2 were picked" in problem


IDS = {"dev": "111111111111", "prod": "222222222222"}


def test_an_arn_goes_to_the_account_it_names_only() -> None:
    arn = "arn:aws:dynamodb:eu-west-1:222222222222:table/orders"
    assert arn_accounts(arn, IDS) == ("prod",)


def test_an_arn_of_an_account_outside_the_request_goes_nowhere() -> None:
    problem = arn_accounts("arn:aws:dynamodb:eu-west-1:999999999999:table/orders", IDS)
    assert isinstance(problem, str) and "999999999999" in problem


def test_an_arn_without_account_goes_to_the_first_account_and_star_to_all() -> None:
    assert arn_accounts("arn:aws:s3:::acme-exports", IDS) == ("dev",)
    assert arn_accounts("*", IDS) == ("dev", "prod")


def test_a_batch_card_reaches_every_accounts_oversight_and_approvers() -> None:
    """The card of a batch goes, with its buttons, to every account's approval channel, to
    every account's notified people and channels (an account's oversight, which picking
    another account first must not skip), and by DM when any account's approvers get DMs."""
    dev = Audience(dms=False, channel="CDEV", notified=("UWATCH",), notified_channels=("CFEED",))
    prod = Audience(dms=False, channel="CPROD", notified=("UAUDIT", "UBOB"), notified_channels=())
    approvers = ["UANA", "UBOB"]

    card = combined([dev, prod], approvers)

    assert (card.channel, card.channels, card.dms) == ("CDEV", ("CPROD",), False)
    assert card.notified == ("UWATCH", "UAUDIT")  # Bob approves: he gets the card with buttons
    assert card.notified_channels == ("CFEED",)
    assert combined([dev, replace(prod, dms=True)], approvers).dms
