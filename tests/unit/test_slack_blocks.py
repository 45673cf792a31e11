"""The Slack emulator's Block Kit checks: what slack_sdk's models reject fails the API call.

Each mistake below passed the emulator's own checks before they parsed blocks and views with
slack_sdk's models, so a view carrying it would have passed every test and failed in Slack.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.slack_blocks import validate_blocks, validate_view


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": value}


def button(**extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": "go", "text": text("Go"), **extra}


def modal(**extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": text("Request"), "blocks": [{"type": "divider"}], **extra}


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "actions", "elements": [button(style="blue")]}, "style attribute must be"),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": "pick",
                        "placeholder": text("p" * 151),
                        "options": [{"text": text("x"), "value": "x"}],
                    }
                ],
            },
            "placeholder attribute cannot exceed 150",
        ),
        (
            {
                "type": "input",
                "label": text("Reason"),
                "element": {"type": "plain_text_input", "action_id": "reason"},
                "hint": text("h" * 2001),
            },
            "hint attribute cannot exceed 2000",
        ),
        (
            {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}, "acessory": button()},
            "slack_sdk reads this as",
        ),
    ],
    ids=["button style", "placeholder length", "hint length", "misspelt key"],
)
def test_a_block_slack_sdk_rejects_is_an_error_naming_the_block(
    block: dict[str, Any], problem: str
) -> None:
    fine = {"type": "divider"}
    errors = validate_blocks([fine, block], 50, "/blocks")
    assert len(errors) == 1
    assert problem in errors[0]
    assert errors[0].endswith("[json-pointer:/blocks/1]")


@pytest.mark.parametrize(
    "view",
    [modal(title="Request"), modal(submit=text("Go"), notify_on_clos=True)],
    ids=["title not a text object", "misspelt key"],
)
def test_a_view_slack_sdk_reads_differently_is_an_error(view: dict[str, Any]) -> None:
    errors = validate_view(view)
    assert len(errors) == 1
    assert "slack_sdk reads this as" in errors[0]
    assert errors[0].endswith("[json-pointer:/view]")


def test_the_apps_own_views_pass() -> None:
    assert validate_view(views.deny_modal("0123456789ab")) == []
    assert validate_view(views.extend_modal("0123456789ab", [30, 60, 120])) == []
    assert validate_view(modal(submit=text("Go"), notify_on_close=True)) == []
