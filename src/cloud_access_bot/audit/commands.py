"""``audit list | show | who-had-access | verify``: arguments, the query each runs, CLI output.

The same argument parser serves the command line and Slack's ``/request audit …``, so both
accept exactly the same questions; Slack renders the answers itself (audit.slack_text).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NoReturn

from cloud_access_bot.audit import export
from cloud_access_bot.audit.queries import (
    DEFAULT_LOOKBACK,
    Access,
    ListFilter,
    list_requests,
    request_with_events,
    who_had_access,
)
from cloud_access_bot.audit.verify import VerifyReport, verify_trail
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, Status
from cloud_access_bot.ports import AuditStore

#: What ``audit list`` covers when --since is not given.
DEFAULT_LIST_DAYS = 30
SLACK_COMMANDS = ("list", "show", "who-had-access")


class UsageError(Exception):
    """Arguments that cannot be answered (unknown account, bad time, …); the text says why."""


class _Parser(argparse.ArgumentParser):
    """Raises UsageError instead of printing and exiting (Slack must answer, not exit).

    Subcommand parsers are made with the parent's class, so they raise too.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().strip()}")


def parse_time(text: str) -> datetime:
    """ISO-8601 date or date-time (UTC when no offset is given), or ``now``."""
    if text == "now":
        return datetime.now(UTC)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (use 2025-03-04 or 2025-03-04T10:00:00Z)"
        ) from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def _user_id(text: str) -> str:
    """A Slack user id, also from a mention as Slack sends it (``<@U123|alice>``)."""
    return text.removeprefix("<@").removesuffix(">").split("|")[0]


def _status(text: str) -> Status:
    try:
        return Status(text.upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a status ({', '.join(s.lower() for s in Status)})"
        ) from None


def configure_parser(
    parser: argparse.ArgumentParser, commands: Sequence[str] = ("verify", *SLACK_COMMANDS)
) -> None:
    """Add the audit subcommands (those named in ``commands``) to ``parser``."""
    sub = parser.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")

    def command(name: str, help_text: str, formats: bool = True) -> argparse.ArgumentParser:
        made = sub.add_parser(name, help=help_text, description=help_text, add_help=parser.add_help)
        if formats:
            made.add_argument("--format", choices=export.FORMATS, default="table")
        return made

    if "list" in commands:
        listing = command("list", "requests created in a time range (default: last 30 days)")
        listing.add_argument("--since", type=parse_time, help="created at or after (ISO-8601)")
        listing.add_argument("--until", type=parse_time, help="created at or before (ISO-8601)")
        listing.add_argument("--user", type=_user_id, help="requester's Slack user id")
        listing.add_argument("--account", help="account name or 12-digit number")
        listing.add_argument("--status", type=_status, help="e.g. active, denied, revoked")
        listing.add_argument("--approver", type=_user_id, help="who approved or decided")
    if "show" in commands:
        show = command("show", "one request: its grant, policy document and event timeline")
        show.add_argument("request_id")
    if "who-had-access" in commands:
        who = command("who-had-access", "grants in force in an account at a time or in a range")
        who.add_argument("--account", required=True, help="account name or 12-digit number")
        when = who.add_mutually_exclusive_group()
        when.add_argument("--at", type=parse_time, help="one moment (default: now)")
        when.add_argument("--between", type=parse_time, nargs=2, metavar=("T1", "T2"))
        who.add_argument("--action", help="an IAM action, wildcards allowed (s3:Put*)")
        who.add_argument("--resource", help="an ARN, wildcards allowed")
    if "verify" in commands:
        verify = command(
            "verify", "re-check event chains, request fields and deleted requests", formats=False
        )
        verify.add_argument("--since", type=parse_time, help="only requests created since")


def slack_parser(command: str) -> argparse.ArgumentParser:
    """The parser for ``/<command> audit …`` (no verify: that is an operator's job)."""
    parser = _Parser(prog=f"/{command} audit", add_help=False)
    configure_parser(parser, SLACK_COMMANDS)
    return parser


def account_id_of(config: BotConfig, text: str) -> str:
    """The account number named by ``text`` (a configured name, alias or the number itself)."""
    for name, account in config.accounts.items():
        if text in (name, account.account_alias, account.account_number):
            return account.account_number
    if text.isdigit() and len(text) == 12:
        return text  # an account no longer configured still has its history
    known = ", ".join(sorted(config.accounts))
    raise UsageError(f"unknown account {text!r} (configured: {known})")


def lookback(config: BotConfig) -> timedelta:
    """How long before a window its request may have been created (see who_had_access)."""
    longest = max(
        [config.max_duration_minutes] + [config.max_duration_for(name) for name in config.accounts]
    )
    needed = timedelta(minutes=config.pending_timeout_minutes + longest) + timedelta(days=1)
    return max(needed, DEFAULT_LOOKBACK)


@dataclass(frozen=True)
class Listing:
    requests: list[AccessRequest]
    since: datetime
    until: datetime


@dataclass(frozen=True)
class Shown:
    request: AccessRequest
    events: list[AuditEvent]


@dataclass(frozen=True)
class Accesses:
    accesses: list[Access]
    account_id: str
    since: datetime
    until: datetime
    question: dict[str, str] = field(default_factory=dict)


Result = Listing | Shown | Accesses | VerifyReport


async def answer(
    args: argparse.Namespace, *, store: AuditStore, config: BotConfig, now: datetime
) -> Result:
    """Run the query the arguments ask for. Raises UsageError for unanswerable arguments."""
    if args.audit_command == "list":
        until = args.until or now
        since = args.since or until - timedelta(days=DEFAULT_LIST_DAYS)
        where = ListFilter(
            since=since,
            until=until,
            user=args.user,
            account_id=account_id_of(config, args.account) if args.account else None,
            status=args.status,
            approver=args.approver,
        )
        return Listing(await list_requests(store, where), since, until)
    if args.audit_command == "show":
        found = await request_with_events(store, args.request_id)
        if found is None:
            raise UsageError(f"no request {args.request_id}")
        return Shown(*found)
    if args.audit_command == "who-had-access":
        since, until = args.between or (args.at or now, args.at or now)
        if until < since:
            raise UsageError("--between: T2 is before T1")
        account_id = account_id_of(config, args.account)
        accesses = await who_had_access(
            store,
            account_id,
            since,
            until,
            action=args.action,
            resource=args.resource,
            lookback=lookback(config),
        )
        question = {k: v for k, v in (("action", args.action), ("resource", args.resource)) if v}
        return Accesses(accesses, account_id, since, until, question)
    return await verify_trail(
        store,
        since=args.since,
        until=now,
        now=now,
        retention=timedelta(days=config.audit_retention_days),
    )


def cli_output(result: Result, fmt: str) -> tuple[int, str]:
    """Exit code and text for the terminal (0; 1 when verify found problems)."""
    if isinstance(result, Listing):
        rows = [export.request_row(r) for r in result.requests]
        return 0, export.render(rows, export.REQUEST_COLUMNS, fmt)
    if isinstance(result, Accesses):
        rows = [export.access_row(a) for a in result.accesses]
        return 0, export.render(rows, export.ACCESS_COLUMNS, fmt)
    if isinstance(result, Shown):
        if fmt == "json":
            return 0, json.dumps(export.show_json(result.request, result.events), indent=2)
        if fmt == "csv":
            rows = [export.event_row(e) for e in result.events]
            return 0, export.render(rows, export.EVENT_COLUMNS, fmt)
        return 0, export.show_text(result.request, result.events)
    return (0 if result.ok else 1), "\n".join(result.lines())
