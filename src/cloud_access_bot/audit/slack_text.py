"""``/request audit list|show|who-had-access …`` for Slack admins: the ephemeral answer text.

Answers are mrkdwn with every stored or typed text escaped, tables in code blocks, and cut to
fit one Slack message (the CLI has the whole answer). Checking that the caller is an admin
(config ``admin_groups``) is the caller's job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from cloud_access_bot.audit import export, people
from cloud_access_bot.audit.activity import NotGranted, Trail, grant_activity
from cloud_access_bot.audit.commands import (
    Accesses,
    Listing,
    Shown,
    UsageError,
    answer,
    labels_for,
    slack_parser,
)
from cloud_access_bot.config import BotConfig
from cloud_access_bot.ports import AuditStore, Directory, StoreUnavailable
from cloud_access_bot.slack.app import Subcommand
from cloud_access_bot.slack.views import escape

#: Slack shows up to 4,000 characters of a message's text in full; keep clear of it.
MAX_TEXT = 3_500
SLACK_LIST_COLUMNS = ("id", "created_at", "requester", "account", "status", "approved_by")
SLACK_ACCESS_COLUMNS = ("request_id", "user", "starts_at", "ends_at", "actions", "approved_by")


def _block(text: str, room: int, cli_hint: str) -> str:
    """``text`` as an escaped code block of at most ``room`` characters."""
    escaped = escape(text)
    if len(escaped) > room:
        cut = escaped[: max(room - 120, 0)].rsplit("\n", 1)[0]
        escaped = f"{cut}\n… cut to fit Slack: run `cloud-access-bot audit {cli_hint}`"
    return f"```\n{escaped}\n```"


def _with_table(title: str, rows: Sequence[export.Row], columns: Sequence[str], hint: str) -> str:
    if not rows:
        return f"{title}: none."
    return f"{title}:\n" + _block(export.table(rows, columns), MAX_TEXT - len(title), hint)


def _when(since: datetime, until: datetime) -> str:
    if since == until:
        return f"at {export.moment(since)}"
    return f"between {export.moment(since)} and {export.moment(until)}"


async def audit_command_text(
    args: list[str],
    *,
    store: AuditStore,
    config: BotConfig,
    now: datetime,
    directory: Directory | None = None,
) -> str:
    """The answer to ``/<request_command> audit <args>`` (args after ``audit``, split); Slack
    ids the ``directory`` resolves are shown with the name and email (audit.people)."""
    try:
        parsed = slack_parser(config.request_command).parse_args(args)
        result = await answer(parsed, store=store, config=config, now=now)
    except UsageError as problem:
        return f"```\n{escape(str(problem))}\n```"
    except StoreUnavailable as error:
        return f"The audit trail cannot be read right now: {escape(str(error))}"
    labels = await labels_for(result, directory)
    if isinstance(result, Listing):
        title = f"*{len(result.requests)} request(s)* created {_when(result.since, result.until)}"
        rows = people.named([export.request_row(r) for r in result.requests], labels)
        return _with_table(title, rows, SLACK_LIST_COLUMNS, "list")
    if isinstance(result, Accesses):
        asked = "".join(f", {k} `{escape(v)}`" for k, v in result.question.items())
        title = (
            f"*{len(result.accesses)} grant(s)* in account {result.account_id} in force "
            f"{_when(result.since, result.until)}{asked}"
        )
        rows = people.named([export.access_row(a) for a in result.accesses], labels)
        return _with_table(title, rows, SLACK_ACCESS_COLUMNS, "who-had-access")
    assert isinstance(result, Shown)
    title = f"*Request* `{result.request.id}`"
    text = export.shown_text(result.all, labels)
    return f"{title}\n" + _block(text, MAX_TEXT - len(title), f"show {result.request.id}")


def audit_subcommand(
    *,
    store: AuditStore,
    directory: Directory,
    config: Callable[[], BotConfig],
    clock: Callable[[], datetime],
) -> Subcommand:
    """``/request audit …`` for members of ``admin_groups`` only (checked at each call)."""

    async def run(user_id: str, args: list[str], body: dict[str, Any]) -> str:
        current = config()
        admins = await directory.members_of(current.admin_groups, fresh=True)
        if user_id not in admins:
            return (
                "Only members of the admin groups (`admin_groups` in the config) can query "
                "the audit trail."
            )
        return await audit_command_text(
            args, store=store, config=current, now=clock(), directory=directory
        )

    return run


async def usage_text(store: AuditStore, trail: Trail, config: BotConfig, request_id: str) -> str:
    """What "What was used" shows: ``audit activity <request_id>``'s table (raises
    TrailUnavailable when CloudTrail cannot be read)."""
    try:
        activity = await grant_activity(store, trail, config, request_id)
    except NotGranted as why:
        return str(why)
    return export.activity_text(activity, "table")
