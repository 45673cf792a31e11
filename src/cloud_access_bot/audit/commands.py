"""``audit list | show | who-had-access | verify``: arguments, the query each runs, CLI output.

The same argument parser serves the command line and Slack's ``/request audit …``, so both
accept exactly the same questions; Slack renders the answers itself (audit.slack_text).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NoReturn

from cloud_access_bot.audit import export, people
from cloud_access_bot.audit.activity import (
    Activity,
    NotGranted,
    Trail,
    grant_activity,
    unused_grants,
)
from cloud_access_bot.audit.archive import ArchiveSource, verify_archive
from cloud_access_bot.audit.queries import (
    DEFAULT_LOOKBACK,
    Access,
    ListFilter,
    approved_by,
    list_requests,
    request_with_events,
    who_had_access,
)
from cloud_access_bot.audit.verify import VerifyReport, verify_trail
from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain import archive as schema
from cloud_access_bot.domain.model import AccessRequest, AuditEvent, Status
from cloud_access_bot.ports import AuditStore, Directory

#: What ``audit list`` covers when --since is not given.
DEFAULT_LIST_DAYS = 30
SLACK_COMMANDS = ("list", "show", "who-had-access")
#: Commands reading CloudTrail in the target accounts (CLI only).
TRAIL_COMMANDS = ("activity", "unused")
#: What the audit commands call on the table (read only).
TABLE_PERMISSIONS = "dynamodb:Query, dynamodb:GetItem and dynamodb:Scan on the table"
#: ``audit export``'s formats: the archive's JSON Lines, or CSV with the same columns.
EXPORT_FORMATS = ("jsonl", "csv")


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
    """A Slack user id, also from a mention as Slack sends it (``<@U123|alice>``), or an email
    (Slack sends ``<mailto:a@b|a@b>``)."""
    if text.startswith("<mailto:"):
        return text.removeprefix("<mailto:").removesuffix(">").split("|")[0]
    return text.removeprefix("<@").removesuffix(">").split("|")[0]


def _is_email(text: str | None) -> bool:
    return bool(text) and "@" in str(text)


#: How far back ``--approver <email>`` looks for the person's requests to learn their Slack id.
PEOPLE_LOOKBACK = timedelta(days=400)


async def _approver_id(store: AuditStore, text: str, until: datetime) -> str:
    """The Slack id of ``--approver``: as given, or found by the email of a request it made.

    Approvals store Slack ids only; an email is matched to the id of a requester with that
    email (someone who never requested anything cannot be named by email)."""
    if not _is_email(text):
        return text
    requests = await store.created_between(until - PEOPLE_LOOKBACK, until)
    for request in requests:
        if request.requester_email.lower() == text.lower():
            return request.requester_id
    raise UsageError(
        f"--approver: no request in the last {PEOPLE_LOOKBACK.days} days was made by {text}, "
        "so its Slack id is unknown here; give the Slack user id (U…) instead"
    )


def _status(text: str) -> Status:
    try:
        return Status(text.upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a status ({', '.join(s.lower() for s in Status)})"
        ) from None


def configure_parser(
    parser: argparse.ArgumentParser,
    commands: Sequence[str] = ("verify", "export", *SLACK_COMMANDS, *TRAIL_COMMANDS),
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
        listing.add_argument("--user", type=_user_id, help="requester's Slack user id or email")
        listing.add_argument("--account", help="account name or 12-digit number")
        listing.add_argument("--status", type=_status, help="e.g. active, denied, revoked")
        listing.add_argument(
            "--approver", type=_user_id, help="who approved or decided (Slack id or email)"
        )
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
        who.add_argument(
            "--write",
            action="store_true",
            help="only grants with write access (Write, Permissions management, Tagging, Unknown)",
        )
    if "export" in commands:
        exported = command(
            "export", "every event of requests created in a range, as the archive's records", False
        )
        exported.add_argument("--since", type=parse_time, required=True, help="created at or after")
        exported.add_argument("--until", type=parse_time, help="created at or before")
        exported.add_argument("--format", choices=EXPORT_FORMATS, default="jsonl")
    if "activity" in commands:
        activity = command(
            "activity", "what a grant's session did with it (CloudTrail), grouped by action"
        )
        activity.add_argument("request_id")
    if "unused" in commands:
        unused = command("unused", "grants ended since T that left most of their actions unused")
        unused.add_argument("--since", type=parse_time, required=True, help="ended at or after")
        unused.add_argument("--until", type=parse_time, help="ended at or before (default: now)")
    if "verify" in commands:
        verify = command(
            "verify", "re-check event chains, request fields and deleted requests", formats=False
        )
        verify.add_argument("--since", type=parse_time, help="only requests created since")
        verify.add_argument(
            "--archive",
            action="store_true",
            help="also check the S3 archive (audit_archive) against the table, and its chains",
        )


def slack_parser(command: str) -> argparse.ArgumentParser:
    """The parser for ``/<command> audit …`` (no verify: that is an operator's job)."""
    parser = _Parser(prog=f"/{command} audit", add_help=False)
    configure_parser(parser, SLACK_COMMANDS)
    return parser


def permissions_needed(args: argparse.Namespace, config: BotConfig) -> tuple[str, str]:
    """What the command calls, and on what: for an error naming the permission missing."""
    if args.audit_command in TRAIL_COMMANDS:
        return (
            "sts:AssumeRole on the account's iam_role, which needs cloudtrail:LookupEvents",
            "CloudTrail in the target account",
        )
    table = f"DynamoDB table {config.dynamodb_table}"
    if getattr(args, "archive", False) and config.audit_archive is not None:
        where = f"s3://{config.audit_archive.bucket}/{config.audit_archive.prefix}"
        return f"{TABLE_PERMISSIONS}, s3:ListBucket and s3:GetObject on {where}", table
    return TABLE_PERMISSIONS, table


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
    #: The other requests of its batch with their events (one request over several
    #: accounts is one request per account): shown with it, as one history.
    others: list[tuple[AccessRequest, list[AuditEvent]]] = field(default_factory=list)

    @property
    def all(self) -> list[tuple[AccessRequest, list[AuditEvent]]]:
        return [(self.request, self.events), *self.others]


@dataclass(frozen=True)
class Accesses:
    accesses: list[Access]
    account_id: str
    since: datetime
    until: datetime
    question: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Unused:
    activities: list[Activity]


@dataclass(frozen=True)
class Exported:
    records: list[schema.Record]


Result = Listing | Shown | Accesses | VerifyReport | Activity | Unused | Exported


async def answer(
    args: argparse.Namespace,
    *,
    store: AuditStore,
    config: BotConfig,
    now: datetime,
    archive: ArchiveSource | None = None,
    trail: Trail | None = None,
) -> Result:
    """Run the query the arguments ask for. Raises UsageError for unanswerable arguments.

    ``archive`` is read by ``verify --archive`` only, ``trail`` by activity and unused."""
    if args.audit_command in TRAIL_COMMANDS:
        assert trail is not None, "activity and unused need CloudTrail"
        return await _trail_answer(args, store=store, config=config, now=now, trail=trail)
    if args.audit_command == "list":
        until = args.until or now
        since = args.since or until - timedelta(days=DEFAULT_LIST_DAYS)
        where = ListFilter(
            since=since,
            until=until,
            user=None if _is_email(args.user) else args.user,
            account_id=account_id_of(config, args.account) if args.account else None,
            status=args.status,
            approver=await _approver_id(store, args.approver, until) if args.approver else None,
        )
        requests = await list_requests(store, where)
        if _is_email(args.user):
            requests = [r for r in requests if r.requester_email.lower() == args.user.lower()]
        return Listing(requests, since, until)
    if args.audit_command == "export":
        until = args.until or now
        requests = await list_requests(store, ListFilter(since=args.since, until=until))
        shown = await asyncio.gather(*(request_with_events(store, r.id) for r in requests))
        return Exported([schema.record(e, found[0]) for found in shown if found for e in found[1]])
    if args.audit_command == "show":
        found = await request_with_events(store, args.request_id)
        if found is None:
            raise UsageError(f"no request {args.request_id}")
        request, events = found
        siblings = [i for i in request.batch if i != request.id]
        others = await asyncio.gather(*(request_with_events(store, i) for i in siblings))
        return Shown(request, events, [o for o in others if o is not None])
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
            write=args.write,
            lookback=lookback(config),
        )
        question = {k: v for k, v in (("action", args.action), ("resource", args.resource)) if v}
        if args.write:
            question["access"] = "write"
        return Accesses(accesses, account_id, since, until, question)
    return await _verify(args, store=store, config=config, now=now, archive=archive)


async def _trail_answer(
    args: argparse.Namespace, *, store: AuditStore, config: BotConfig, now: datetime, trail: Trail
) -> Activity | Unused:
    if args.audit_command == "activity":
        try:
            return await grant_activity(store, trail, config, args.request_id)
        except NotGranted as error:
            raise UsageError(str(error)) from None
    until = args.until or now
    created = await list_requests(
        store, ListFilter(since=args.since - lookback(config), until=until)
    )
    return Unused(await unused_grants(store, trail, config, created, since=args.since, until=until))


async def _verify(
    args: argparse.Namespace,
    *,
    store: AuditStore,
    config: BotConfig,
    now: datetime,
    archive: ArchiveSource | None,
) -> VerifyReport:
    retention = timedelta(days=config.audit_retention_days)
    if args.archive and (config.audit_archive is None or archive is None):
        raise UsageError("--archive: the configuration has no audit_archive (bucket, prefix)")
    report = await verify_trail(store, since=args.since, until=now, now=now, retention=retention)
    if args.archive and config.audit_archive is not None and archive is not None:
        report.findings += await verify_archive(
            store,
            archive,
            bucket=config.audit_archive.bucket,
            prefix=config.audit_archive.prefix,
            since=args.since,
            now=now,
            retention=retention,
        )
        report.archive = f"s3://{config.audit_archive.bucket}/{config.audit_archive.prefix}"
    return report


async def labels_for(result: Result, directory: Directory | None) -> dict[str, str]:
    """Names for the Slack ids in ``result`` that the directory resolves (audit.people)."""
    requests: list[AccessRequest] = []
    actors: list[str] = []
    if isinstance(result, Listing):
        requests = result.requests
    elif isinstance(result, Accesses):
        requests = [a.request for a in result.accesses]
    elif isinstance(result, Shown):
        requests = [r for r, _ in result.all]
        actors = [e.actor for _, events in result.all for e in events]
    elif isinstance(result, Unused):
        requests = [a.request for a in result.activities]
    ids = [i for r in requests for i in (r.requester_id, r.decided_by or "", *approved_by(r))]
    return await people.names(directory, [*ids, *actors])


def cli_output(result: Result, fmt: str, labels: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and text for the terminal (0; 1 when verify found problems). ``labels``
    (names for Slack ids) are shown in the table format only: JSON and CSV keep ids."""
    names = (labels or {}) if fmt == "table" else {}
    if isinstance(result, Listing):
        rows = people.named([export.request_row(r) for r in result.requests], names)
        return 0, export.render(rows, export.REQUEST_COLUMNS, fmt)
    if isinstance(result, Accesses):
        rows = people.named([export.access_row(a) for a in result.accesses], names)
        return 0, export.render(rows, export.ACCESS_COLUMNS, fmt)
    if isinstance(result, Shown):
        if fmt == "json":
            shown = [export.show_json(r, e) for r, e in result.all]
            return 0, json.dumps(shown[0] if len(shown) == 1 else shown, indent=2)
        if fmt == "csv":
            rows = [export.event_row(e) for _, events in result.all for e in events]
            return 0, export.render(rows, export.EVENT_COLUMNS, fmt)
        return 0, export.shown_text(result.all, names)
    if isinstance(result, Exported):
        if fmt == "csv":
            return 0, export.render(export.record_rows(result.records), schema.COLUMNS, fmt)
        return 0, schema.json_lines(result.records).rstrip("\n")
    if isinstance(result, Activity):
        return 0, export.activity_text(result, fmt)
    if isinstance(result, Unused):
        rows = people.named([export.unused_row(a) for a in result.activities], names)
        return 0, export.render(rows, export.UNUSED_COLUMNS, fmt)
    return (0 if result.ok else 1), "\n".join(result.lines())
