"""Command line: ``cloud-access-bot run | check-config | demo | health | audit``.

Exit codes: 0 success, 1 failure at run time (a fatal start-up check, unhealthy, AWS refused
or unreachable), 2 bad settings or configuration, 130 interrupted. Failures are one line
naming the cause and what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.audit import commands as audit
from cloud_access_bot.aws.archive import ArchiveOnAws
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.cloudtrail import CloudTrailLookup
from cloud_access_bot.aws.errors import AssumeRoleError
from cloud_access_bot.aws.explain import explain
from cloud_access_bot.aws.organizations import organization_directory
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import (
    ACTION_PATTERN,
    BotConfig,
    ConfigError,
    actions_checked_by,
    config_warnings,
)
from cloud_access_bot.config_rules import effective, evaluate_all
from cloud_access_bot.config_source import ConfigSource, FileConfigSource, config_source_from
from cloud_access_bot.domain.accounts import OrgSnapshot
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import utcnow
from cloud_access_bot.domain.routing import requirement, route
from cloud_access_bot.domain.rules import Route
from cloud_access_bot.health import read_health
from cloud_access_bot.logging_setup import configure_logging
from cloud_access_bot.ports import StoreUnavailable, TrailUnavailable
from cloud_access_bot.settings import Settings, SettingsError, load_settings
from cloud_access_bot.slack import directory as slack_directory

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130
#: As a shell reports a process ended by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141
HEALTH_MAX_AGE_S = 60
#: What check-config calls through the organizations read role.
ORGANIZATIONS_PERMISSIONS = (
    "sts:AssumeRole on the role, and organizations:ListRoots, ListAccountsForParent, "
    "ListOrganizationalUnitsForParent and ListTagsForResource through it"
)


def _version() -> str:
    try:
        return version("cloud-access-bot")
    except PackageNotFoundError:
        return "unknown"


#: What ``demo`` needs beyond the product: the stand-ins and the moto they run on.
SANDBOX_MODULES = ("cloud_access_bot_sandbox", "moto")
SANDBOX_MISSING = "demo: the demo needs the sandbox: pip install 'cloud-access-bot[demo]'"


def _sandbox_demo() -> ModuleType | None:
    """The sandbox's demo script, or None when the sandbox or moto is not installed (the
    container image ships neither). A missing module of any other name is a bug: it propagates."""
    try:
        return import_module("cloud_access_bot_sandbox.demo")
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in SANDBOX_MODULES:
            return None
        raise


def _join(items: Sequence[object]) -> str:
    return ", ".join(str(item) for item in items) or "-"


def account_lines(config: BotConfig, name: str) -> list[str]:
    """One account's effective settings, as check-config prints them."""
    account = config.accounts[name]
    eligibility = account.eligibility or config.eligibility
    who = [
        *eligibility.user_groups,
        *(f"@{d}" for d in eligibility.email_domains),
        *eligibility.users,
    ]
    channel = config.approval_channel_for(account)
    only = "" if config.approval_dms_for(account) else " only"
    card = f"; cards in {channel}{only}" if channel else ""
    return [
        f"  {name}: {account.account_number}"
        + (f" alias {account.account_alias}" if account.account_alias else "")
        + f", mode {account.access_mode.value}"
        + (", production" if account.production else ""),
        f"    role: {account.iam_role}",
        f"    login roles: {_join(config.login_roles_for(name))}",
        f"    approval groups: {_join(config.approval_groups_for(name))}"
        f" ({config.approvals_required_for(name)} approval(s) needed)",
        f"    approvers: {_join([str(s) for s in config.approver_specs_for(name)])}{card}",
        f"    durations (minutes): {_join(config.durations_for(name))}"
        f", max {config.max_duration_for(name)}",
        f"    regions: {_join(config.regions_for(name))}",
        f"    ticket: {account.ticket_pattern or 'not required'}",
        f"    warning: {account.warning or '-'}",
        f"    who may request: {_join(who) if who else 'any full member'}"
        + (", guests too" if eligibility.allow_guests else ""),
    ]


def _clauses(route: Route) -> str:
    named = [
        ("access level", route.access_levels),
        ("service", route.services),
        ("action", route.actions),
        ("permission set", route.permission_sets),
    ]
    return " and ".join(f"{what} {' or '.join(values)}" for what, values in named if values)


def route_lines(
    config: BotConfig, name: str, actions: Sequence[str] = (), target: str | None = None
) -> list[str]:
    """The account's rules on what is asked, and what they make of one request for
    ``actions`` (or the permission set ``target``) when given (check-config --action)."""
    account = config.rules_for(name)
    lines = ["rules on what is asked (checked for each request):"]
    lines += [f"  {r.label}: when {_clauses(r)}, {requirement(r)}" for r in account.routes]
    if not account.routes:
        lines = ["rules on what is asked: none"]
    if not (actions or target):
        return lines
    routed = route(account, actions, target, Catalog.default().access_level)
    asked = ", ".join([*actions, *([target] if target else [])])
    groups = " and ".join("/".join(map(str, s)) for s in routed.approver_sets)
    return [
        *lines,
        f"a request for {asked}: {routed.limits.approvals_required} approval(s) from "
        f"{groups or '-'}, max {routed.limits.max_duration_minutes} minutes"
        + (", auto-approved (if its resources allow)" if routed.auto_reason else "")
        + f"; rules applied: {_join(routed.applied)}",
    ]


def explain_account(
    config: BotConfig,
    snapshot: OrgSnapshot | None,
    account_id: str,
    actions: Sequence[str] = (),
    target: str | None = None,
) -> list[str]:
    """Which rules applied to one account and its effective settings (check-config --account),
    and what its rules on what is asked make of a request for ``actions`` or ``target``."""
    found = [e for e in evaluate_all(config, snapshot) if e.account_id == account_id]
    if not found:
        where = "in neither accounts: nor the organisation" if snapshot else "not in accounts:"
        return [f"account {account_id}: {where}"]
    entry = found[0]
    origin = " and ".join(
        part
        for part, present in (("accounts:", entry.explicit), ("Organizations", entry.discovered))
        if present
    )
    lines = [f"account {account_id}: {entry.name} (from {origin})"]
    lines.append(
        "rules applied: "
        + (
            _join(
                [
                    f"{i}"
                    + (f" ({config.rules[i].description})" if config.rules[i].description else "")
                    for i in entry.rules
                ]
            )
        )
    )
    if entry.excluded:
        return [*lines, "excluded by a rule: the bot does not offer this account"]
    if entry.account is None:
        return [*lines, *(f"unusable: {p}" for p in entry.problems)]
    in_force = effective(config, snapshot).config
    return [
        *lines,
        "effective settings:",
        *account_lines(in_force, entry.name),
        *route_lines(in_force, entry.name, actions, target),
    ]


def summarize(config: BotConfig, source: str) -> list[str]:
    """A human-readable summary of a valid configuration, one line per entry."""
    lines = [
        f"{source}: valid",
        f"request command: /{config.request_command}",
        f"DynamoDB table: {config.dynamodb_table}"
        + (" (created at start)" if config.create_table else ""),
        f"accounts ({len(config.accounts)}):",
    ]
    for name in config.accounts:
        lines += account_lines(config, name)
    lines += [
        f"durations (minutes): {_join(config.durations_minutes)}"
        f", max {config.max_duration_minutes}",
        f"self-approval: {config.self_approval.value}",
        f"pending timeout: {config.pending_timeout_minutes} min"
        f", reminders at {_join(config.reminder_minutes)} min",
        f"never grantable: {_join(config.never_grantable_actions)}",
        f"auto-approve rules: {len(config.auto_approve)}",
        f"presets: {_join(sorted(config.presets))}",
        f"audit channel: {config.audit_channel or '-'}",
    ]
    return lines


def _print_config_error(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(f"{exc.source}: {problem}", file=sys.stderr)
    count = len(exc.problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)


def _load(source: ConfigSource) -> BotConfig | None:
    try:
        return asyncio.run(source.load())
    except ConfigError as exc:
        _print_config_error(exc)
        return None


def _settings_error(exc: SettingsError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_INVALID


def cmd_check_config(args: argparse.Namespace) -> int:
    if args.account and not re.fullmatch(r"\d{12}", args.account):
        print(f"error: --account {args.account!r} is not a 12-digit account id", file=sys.stderr)
        return EXIT_INVALID
    if (args.action or args.permission_set) and not args.account:
        print("error: --action and --permission-set need --account", file=sys.stderr)
        return EXIT_INVALID
    for action in args.action or ():
        if not ACTION_PATTERN.match(action):
            print(
                f"error: --action {action!r} is not an IAM action like s3:PutObject",
                file=sys.stderr,
            )
            return EXIT_INVALID
    if args.file:
        source: ConfigSource = FileConfigSource(args.file)
    else:
        try:
            settings = load_settings(require_slack=False)
        except SettingsError as exc:
            return _settings_error(exc)
        source = config_source_from(settings)
    with actions_checked_by(Catalog.default().is_known):
        config = _load(source)
    if config is None:
        return EXIT_INVALID
    for warning in config_warnings(config):
        print(f"{source.description}: warning: {warning}", file=sys.stderr)
    if args.account or config.organizations is not None:
        try:
            snapshot = asyncio.run(_list_organization(config))
        except (ClientError, BotoCoreError, AssumeRoleError, OSError) as exc:
            assert config.organizations is not None
            reading = explain(
                exc, action=ORGANIZATIONS_PERMISSIONS, resource=config.organizations.iam_role
            )
            print(f"error: listing AWS Organizations: {reading}", file=sys.stderr)
            return EXIT_FAILED
        if args.account:
            explained = explain_account(
                config, snapshot, args.account, args.action or (), args.permission_set
            )
            print("\n".join(explained))
            return EXIT_OK
        result = effective(config, snapshot)
        for problem in result.problems:
            print(f"{source.description}: warning: {problem}", file=sys.stderr)
        config = result.config
    problems, groups_line = _group_check(config, source.description)
    if problems:
        _print_config_error(ConfigError(source.description, problems))
        return EXIT_INVALID
    print("\n".join([*summarize(config, source.description), groups_line]))
    return EXIT_OK


async def _list_organization(config: BotConfig) -> OrgSnapshot | None:
    if config.organizations is None:
        return None
    clients = AwsClients(region=os.environ.get("AWS_REGION", "us-east-1"))
    try:
        return await organization_directory(clients, config).snapshot()
    finally:
        await clients.close()


def _group_check(config: BotConfig, description: str) -> tuple[list[str], str]:
    """The configured groups that do not name exactly one Slack user group, when Slack can be
    asked (SLACK_BOT_TOKEN and SLACK_API_URL from the environment), and a line saying what was
    checked; the approver warnings are printed (``approver_warnings``)."""
    try:
        settings = load_settings(require_slack=False, require_config_source=False)
    except SettingsError as exc:
        return [], f"approval groups: not checked against Slack ({exc})"
    if settings.slack_bot_token is None:
        return [], "approval groups: not checked against Slack (SLACK_BOT_TOKEN is not set)"
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    try:
        problems = asyncio.run(slack_directory.check_groups(client, config))
        for warning in asyncio.run(slack_directory.approver_warnings(client, config)):
            print(f"{description}: warning: {warning}", file=sys.stderr)
    except SlackApiError as exc:
        return [], f"approval groups: not checked, Slack answered {exc.response.get('error')}"
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return (
            [],
            f"approval groups: not checked, Slack could not be reached ({type(exc).__name__})",
        )
    return problems, (
        "approval groups: each names exactly one Slack user group; every approver entry names "
        "someone active and every approval channel has the bot"
    )


def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(require_slack=True)
    except SettingsError as exc:
        return _settings_error(exc)
    configure_logging(settings.log_level, settings.log_format)
    from cloud_access_bot.runtime import run_bot  # Bolt and the sweeper: only `run` needs them

    return int(asyncio.run(run_bot(settings)))


def cmd_demo(args: argparse.Namespace) -> int:
    demo = _sandbox_demo()
    if demo is None:
        print(SANDBOX_MISSING, file=sys.stderr)
        return EXIT_INVALID
    return int(asyncio.run(demo.run_demo(json_output=args.json)))


def cmd_health(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(require_slack=False, require_config_source=False)
    except SettingsError as exc:
        return _settings_error(exc)
    ok, reason = read_health(settings.health_file, max_age_s=args.max_age)
    print(f"{'healthy' if ok else 'unhealthy'}: {reason}", file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


async def _audit(args: argparse.Namespace, settings: Settings, config: BotConfig) -> int:
    clients = AwsClients(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    store = DynamoStore(clients, config.dynamodb_table, config.audit_retention_days)
    try:
        result = await audit.answer(
            args,
            store=store,
            config=config,
            now=utcnow(),
            archive=ArchiveOnAws(clients, config.dynamodb_table),
            trail=CloudTrailLookup(clients),
        )
    except audit.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (AssumeRoleError, TrailUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (StoreUnavailable, ClientError, BotoCoreError, OSError) as exc:
        action, resource = audit.permissions_needed(args, config)
        print(f"error: {explain(exc, action=action, resource=resource)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await clients.close()
    fmt = getattr(args, "format", "table")
    labels = await audit.labels_for(result, _people(settings)) if fmt == "table" else {}
    code, text = audit.cli_output(result, fmt, labels)
    print(text)
    return code


def _people(settings: Settings) -> slack_directory.SlackDirectory | None:
    """Slack, for names next to ids, when SLACK_BOT_TOKEN is set (else ids only)."""
    token = settings.slack_bot_token
    if token is None:
        return None
    return slack_directory.SlackDirectory(
        AsyncWebClient(token=token.get_secret_value(), base_url=settings.slack_api_url)
    )


def cmd_audit(args: argparse.Namespace) -> int:
    """Audit queries on the table named by the configuration (found as check-config does)."""
    try:
        settings = load_settings(require_slack=False)
    except SettingsError as exc:
        return _settings_error(exc)
    config = _load(config_source_from(settings))
    if config is None:
        return EXIT_INVALID
    return asyncio.run(_audit(args, settings, config))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloud-access-bot",
        description="Time-limited AWS access, approved in Slack.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="connect to Slack and serve requests")
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser(
        "check-config",
        help="validate the YAML configuration and print a summary",
        description="Validate the configuration from --file, else from BOT_CONFIG_FILE or "
        "BOT_CONFIG_S3_BUCKET + BOT_CONFIG_S3_KEY. Exit 0 if valid, 2 if not.",
    )
    check.add_argument("--file", metavar="FILE", help="a local YAML file to check")
    check.add_argument(
        "--account",
        metavar="ID",
        help="show which rules apply to this 12-digit account id and its effective settings",
    )
    check.add_argument(
        "--action",
        metavar="ACTION",
        action="append",
        help="with --account: what the rules on what is asked make of a request for this "
        "IAM action (repeat for several)",
    )
    check.add_argument(
        "--permission-set",
        metavar="NAME",
        help="with --account: the same for a request of this permission set",
    )
    check.set_defaults(handler=cmd_check_config)

    demo = commands.add_parser("demo", help="run a scripted request against local stand-ins")
    demo.add_argument("--json", action="store_true", help="print the result as JSON")
    demo.set_defaults(handler=cmd_demo)

    health = commands.add_parser(
        "health",
        help="exit 0 if the running bot is alive, connected to Slack, sweeping and reaching "
        "its table (HEALTH_FILE); else print why and exit 1",
    )
    health.add_argument(
        "--max-age",
        type=float,
        default=HEALTH_MAX_AGE_S,
        metavar="SECONDS",
        help=f"oldest acceptable update (default {HEALTH_MAX_AGE_S})",
    )
    health.set_defaults(handler=cmd_health)

    audit_parser = commands.add_parser(
        "audit",
        help="query the audit trail: list, show, who-had-access, verify, export, activity, unused",
        description="Answers from the DynamoDB table named by the configuration "
        "(BOT_CONFIG_FILE or BOT_CONFIG_S3_BUCKET + BOT_CONFIG_S3_KEY). Exit 0 on success, "
        "1 if verify finds a problem or the table cannot be read, 2 for bad arguments. With "
        "SLACK_BOT_TOKEN set, the table format shows names and emails next to Slack ids "
        "(Slack's users.info); without it, ids only. JSON, CSV and export keep ids.",
    )
    audit.configure_parser(audit_parser)
    audit_parser.set_defaults(handler=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of the output went away (`check-config … | head -1`): nothing more to
        # say, and no traceback. Python would also fail flushing stdout at exit: point it at
        # /dev/null first, as the signal module's documentation recommends.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
