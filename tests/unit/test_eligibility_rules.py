"""Who may request (pure decision), ticket references, and the picker's ranking and cap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloud_access_bot.config import Eligibility
from cloud_access_bot.domain.people import Person
from cloud_access_bot.domain.tickets import ticket_problem
from cloud_access_bot.eligibility import DEACTIVATED_REFUSED, GUEST_REFUSED, refusal
from cloud_access_bot.slack.account_picker import AccountIndex
from cloud_access_bot_sandbox.scenario import sandbox_config

ALICE = Person("U1", "alice@example.com", guest=False, deactivated=False)


def test_guests_and_deactivated_people_are_refused_by_default() -> None:
    anyone = Eligibility()
    assert refusal(anyone, ALICE, in_groups=False) is None
    guest = Person("U2", "gus@example.com", guest=True, deactivated=False)
    assert refusal(anyone, guest, in_groups=False) == GUEST_REFUSED
    assert refusal(Eligibility(allow_guests=True), guest, in_groups=False) is None
    gone = Person("U3", "old@example.com", guest=False, deactivated=True)
    assert refusal(Eligibility(allow_guests=True), gone, in_groups=False) == DEACTIVATED_REFUSED


def test_any_list_admits_and_the_refusal_says_who_may() -> None:
    rule = Eligibility(user_groups=["sre"], email_domains=["example.com"], users=["U9"])
    assert refusal(rule, ALICE, in_groups=False) is None
    outsider = Person("U5", "eve@evil.example", guest=False, deactivated=False)
    assert refusal(rule, outsider, in_groups=True) is None
    assert refusal(rule, Person("U9", None, False, False), in_groups=False) is None
    assert refusal(rule, outsider, in_groups=False) == (
        "Only members of sre, @example.com addresses, people named in the configuration "
        "may request access to this account."
    )


@given(st.from_regex(r"[a-z0-9.-]{1,12}", fullmatch=True))
def test_only_the_exact_email_domain_is_admitted(other: str) -> None:
    """``a@example.com.evil.io``, ``a@notexample.com`` and ``a@evil.io?x@example.com``-style
    tricks are not ``example.com``; case does not matter."""
    rule = Eligibility(email_domains=["example.com"])

    def admitted(email: str) -> bool:
        return refusal(rule, Person("U1", email, False, False), in_groups=False) is None

    assert admitted("a@Example.COM")
    assert not admitted(f"a@example.com.{other}")
    assert not admitted(f"a@{other}example.com")
    assert not admitted(f"a@{other}") or other == "example.com"


def test_a_ticket_must_match_the_whole_pattern() -> None:
    pattern = r"^(INC|CHG)-\d+$"
    assert ticket_problem(pattern, "CHG-42") is None
    assert ticket_problem(pattern, " INC-7 ") is None
    assert (
        ticket_problem(pattern, "")
        == f"This account needs a ticket or change id matching {pattern}."
    )
    assert ticket_problem(r"(INC|CHG)-\d+", "CHG-1; more") is not None
    assert ticket_problem(None, "") is None


def test_the_picker_never_drops_accounts_silently() -> None:
    accounts = {
        f"acct-{n:04d}": {
            "account_number": f"{n:012d}",
            "iam_role": f"arn:aws:iam::{n:012d}:role/b",
        }
        for n in range(1, 251)
    }
    index = AccountIndex(sandbox_config(accounts=accounts))
    answer = index.search("acct")
    (group,) = answer["option_groups"]
    assert group["label"]["text"] == "100 of 250 accounts: type to narrow"
    assert len(group["options"]) == 100
    assert [o["value"] for o in index.search("acct-0249")["options"]] == ["acct-0249"]
    exact = index.search("000000000012")["options"]
    assert exact[0]["value"] == "acct-0012"
    assert [o["value"] for o in index.search("", allowed=frozenset({"acct-0003"}))["options"]] == [
        "acct-0003"
    ]
