"""The policy templates against the code that reads what they create."""

from __future__ import annotations

from cloud_access_bot.domain import packing
from tests.iam.iam_policies import render


def test_the_grants_policy_starts_as_the_bot_leaves_it_without_grants() -> None:
    placeholder = render("grants-policy-placeholder")
    assert placeholder == packing.managed_document({})
    assert packing.grant_ends([placeholder]) == {}
