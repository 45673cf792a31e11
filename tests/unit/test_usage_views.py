"""The "What was used" modal and the usage review DM within Slack's Block Kit limits."""

from __future__ import annotations

from datetime import UTC, datetime

from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.model import ServiceAccess, Status
from cloud_access_bot.slack import usage_views, views
from cloud_access_bot_sandbox.slack_blocks import validate_blocks, validate_view
from tests.factories import access_request

REQUEST = access_request(
    status=Status.EXPIRED,
    services=(ServiceAccess("s3", ("s3:GetObject", "s3:PutObject"), ("*",)),),
    starts_at=datetime(2025, 3, 4, 10, tzinfo=UTC),
)


def test_a_long_answer_is_cut_into_valid_sections_and_points_to_the_cli() -> None:
    # 10,000 rows with characters Slack needs escaped: pages must hold the escaped text.
    text = "\n".join(f"s3:Get<Object{i}> & more  {i}" for i in range(10_000))

    modal = usage_views.usage_modal(REQUEST, text)

    assert validate_view(modal) == []
    sections = [b["text"]["text"] for b in modal["blocks"] if b["type"] == "section"]
    assert len(sections) == usage_views.MAX_PAGES and all(len(s) <= 3000 for s in sections)
    assert "s3:Get&lt;Object0&gt; &amp; more" in sections[0]
    assert (
        f"cloud-access-bot audit activity {REQUEST.id}"
        in modal["blocks"][-1]["elements"][0]["text"]
    )


def test_a_problem_is_said_in_the_modal() -> None:
    modal = usage_views.usage_modal(REQUEST, problem="CloudTrail in account 1: throttled")

    assert validate_view(modal) == []
    assert "throttled" in modal["blocks"][1]["text"]["text"]


def test_the_review_offers_the_smaller_set_only_when_something_was_used() -> None:
    used = RightSizing(
        ("s3:GetObject", "s3:PutObject"), ("s3:GetObject",), ("s3:PutObject",), ("s3:GetObject",)
    )
    nothing = RightSizing(("s3:GetObject",), (), ("s3:GetObject",), ())

    offered = usage_views.usage_review_message(REQUEST, used)
    told = usage_views.usage_review_message(REQUEST, nothing)

    assert validate_blocks(offered["blocks"], 50, "/blocks") == []
    assert offered["blocks"][-1]["elements"][0]["action_id"] == views.SMALLER_SET_ACTION
    assert "used 1 of 2 actions; never used s3:PutObject" in offered["text"]
    assert all(b["type"] != "actions" for b in told["blocks"])
    assert "Nothing was used" in told["blocks"][0]["text"]["text"]
