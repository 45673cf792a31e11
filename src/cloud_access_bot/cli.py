"""Command line: ``cloud-access-bot run | check-config | demo | health | audit``.

Exit codes: 0 success, 1 failure at run time (a fatal start-up check, unhealthy, AWS refused
or unreachable), 2 bad settings or configuration, 130 interrupted. Failures are one line
naming the cause and what to do, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.audit import commands as audit
from cloud_access_bot.aws.archive import ArchiveOnAws
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.cloudtrail import CloudTrailLookup
from cloud_access_bot.aws.errors import AssumeRoleError
from cloud_access_bot.aws.explain import explain
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.config import BotConfig, ConfigError, actions_checked_by, config_warnings
from cloud_access_bot.config_source import ConfigSource, FileConfigSource, config_source_from
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import utcnow
from cloud_access_bot.health import read_health
from cloud_access_bot.logging_setup import configure_logging
from cloud_access_bot.ports import StoreUnavailable
from cloud_access_bot.settings import Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130
HEALTH_MAX_AGE_S = 60


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


def summarize(config: BotConfig, source: str) -> list[str]:
    """A human-readable summary of a valid configuration, one line per entry."""
    lines = [
        f"{source}: valid",
        f"request command: /{config.request_command}",
        f"DynamoDB table: {config.dynamodb_table}"
        + (" (created at start)" if config.create_table else ""),
        f"accounts ({len(config.accounts)}):",
    ]
    for name, account in config.accounts.items():
        lines.append(
            f"  {name}: {account.account_number}"
            + (f" alias {account.account_alias}" if account.account_alias else "")
            + f", mode {account.access_mode.value}"
            + (", production" if account.production else "")
        )
        lines.append(f"    login roles: {_join(config.login_roles_for(name))}")
        lines.append(
            f"    approval groups: {_join(config.approval_groups_for(name))}"
            f" ({config.approvals_required_for(name)} approval(s) needed)"
        )
        lines.append(
            f"    durations (minutes): {_join(config.durations_for(name))}"
            f", max {config.max_duration_for(name)}"
        )
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
    print("\n".join(summarize(config, source.description)))
    return EXIT_OK


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
    except AssumeRoleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (StoreUnavailable, ClientError, BotoCoreError, OSError) as exc:
        action, resource = audit.permissions_needed(args, config)
        print(f"error: {explain(exc, action=action, resource=resource)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await clients.close()
    code, text = audit.cli_output(result, getattr(args, "format", "table"))
    print(text)
    return code


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
        "1 if verify finds a problem or the table cannot be read, 2 for bad arguments.",
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
