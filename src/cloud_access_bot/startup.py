"""Start-up checks of ``cloud-access-bot run``: one line each, before the bot takes requests.

Checked in order: the bot token (``auth.test``), the app token (``apps.connections.open``),
the configuration, the DynamoDB table (``DescribeTable``; created only with ``create_table``),
each account's role (assumed) and the approval user groups. A bad token or an unusable table
is fatal: ``run`` exits non-zero with that line. An account whose role cannot be assumed, or
a group that does not resolve, is reported and the bot starts anyway: its other accounts work,
and that account's requests fail with the same reason until it is fixed.

With AWS Organizations the reader role is checked before start (``ListRoots``), and once the
organisation is listed a sample of ``DISCOVERED_SAMPLE`` discovered accounts has its role
assumed (``check_discovered_roles``): thousands of AssumeRole calls at every start would be
slow and throttled, and an account whose role is missing says so on its first request.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError
from cloud_access_bot.aws.explain import explain
from cloud_access_bot.aws.organizations import ORGANIZATIONS_REGION
from cloud_access_bot.aws.table_check import TableProblem, check_table
from cloud_access_bot.config import BotConfig
from cloud_access_bot.config_source import ConfigSource
from cloud_access_bot.ports import Directory, Store
from cloud_access_bot.slack import directory as slack_directory

log = logging.getLogger(__name__)

#: Slack's answers to a bad bot token, and where the right one is.
BOT_TOKEN_FIX = "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page"
APP_TOKEN_FIXES = {
    "invalid_auth": "SLACK_APP_TOKEN is not valid: create an app-level token (xapp-…) with the "
    "connections:write scope under the app's Basic Information → App-Level Tokens",
    "not_allowed_token_type": "SLACK_APP_TOKEN is not an app-level token: use the xapp-… "
    "token from Basic Information → App-Level Tokens, not a bot or user token",
    "missing_scope": "the app-level token lacks the connections:write scope: add it to the "
    "token under Basic Information → App-Level Tokens",
}
PAID_PLAN = (
    "user groups need a paid Slack plan; this workspace answers plan_upgrade_required, so no "
    "approval group resolves and requests cannot be approved by group"
)
NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)
#: Discovered accounts whose role is assumed at start; the others show on first use.
DISCOVERED_SAMPLE = 5


class StartupFailed(Exception):
    """A fatal check failed; the message is the one line to print."""


@dataclass(frozen=True)
class Finding:
    check: str
    line: str
    ok: bool = True


def _report(finding: Finding) -> Finding:
    level = logging.INFO if finding.ok else logging.WARNING
    log.log(level, "start-up check: %s", finding.line, extra={"check": finding.check})
    return finding


def _slack_error(error: SlackApiError) -> str:
    return str(error.response.get("error", "unknown_error"))


async def check_bot_token(client: AsyncWebClient, api_url: str) -> Finding:
    try:
        answer = await client.auth_test()
    except SlackApiError as error:
        code = _slack_error(error)
        raise StartupFailed(f"Slack bot token (SLACK_BOT_TOKEN): {code}; {BOT_TOKEN_FIX}") from None
    except NETWORK_ERRORS as error:
        raise StartupFailed(
            f"cannot reach Slack at {api_url} ({type(error).__name__}); check SLACK_API_URL "
            "and the network"
        ) from None
    return Finding(
        "slack_bot_token",
        f"Slack bot token: team {answer.get('team')} ({answer.get('team_id')}), "
        f"bot user {answer.get('user')} ({answer.get('user_id')})",
    )


async def check_app_token(client: AsyncWebClient, app_token: str) -> Finding:
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        code = _slack_error(error)
        fix = APP_TOKEN_FIXES.get(code, "check SLACK_APP_TOKEN and that Socket Mode is enabled")
        raise StartupFailed(f"Slack app token (SLACK_APP_TOKEN): {code}; {fix}") from None
    return Finding("slack_app_token", "Slack app token: Socket Mode connections allowed")


def check_config(source: ConfigSource, config: BotConfig) -> Finding:
    version = source.version or "?"
    return Finding(
        "config",
        f"configuration: {source.description}, version {version[:16]}, "
        f"{len(config.accounts)} account(s)",
    )


async def check_store(clients: AwsClients, store: Store, config: BotConfig) -> Finding:
    if config.create_table:
        try:
            await store.ensure_table()
        except Exception as error:
            resource = f"DynamoDB table {config.dynamodb_table}"
            raise StartupFailed(
                explain(error, action="dynamodb:CreateTable", resource=resource)
            ) from None
    try:
        return Finding("store", await check_table(clients, config.dynamodb_table))
    except TableProblem as problem:
        raise StartupFailed(str(problem)) from None


async def check_role(clients: AwsClients, name: str, config: BotConfig) -> Finding:
    account = config.accounts[name]
    where = f"account {name} ({account.account_number})"
    try:
        identity = await clients.with_assumed(
            "sts", account.iam_role, lambda sts: sts.get_caller_identity()
        )
    except AssumeRoleError as error:
        return Finding(
            "account_role",
            f"{where}: cannot assume {error.role_arn} ({error.code}: {error.detail}); check that "
            "the role exists and trusts the bot's own role. Requests for it will fail until then",
            ok=False,
        )
    except Exception as error:
        return Finding(
            "account_role",
            explain(error, action="sts:AssumeRole", resource=where),
            ok=False,
        )
    return Finding("account_role", f"{where}: role assumed as {identity.get('Arn')}")


async def check_organization(clients: AwsClients, config: BotConfig) -> Finding | None:
    """The ``organizations.iam_role`` can be assumed and lists the organisation's root (None
    without ``organizations``). Not fatal: the file's accounts work without it."""
    settings = config.organizations
    if settings is None:
        return None
    where = f"AWS Organizations reader role {settings.iam_role}"
    try:
        roots = await clients.with_assumed(
            "organizations",
            settings.iam_role,
            lambda org: org.list_roots(),
            region=ORGANIZATIONS_REGION,
        )
    except Exception as error:
        line = (
            f"{where}: cannot be assumed ({error.code}: {error.detail})"
            if isinstance(error, AssumeRoleError)
            else explain(error, action="organizations:ListRoots", resource=where)
        )
        return Finding("organizations", f"{line}. Only the file's accounts are offered", ok=False)
    root = next(iter(roots.get("Roots") or [{}])).get("Id", "?")
    return Finding(
        "organizations",
        f"{where}: lists root {root}; accounts are listed at start and every "
        f"{settings.refresh_minutes} min",
    )


async def check_discovered_roles(
    clients: AwsClients, config: BotConfig, file_config: BotConfig, sample: int = DISCOVERED_SAMPLE
) -> list[Finding]:
    """Assume the role of ``sample`` accounts (chosen at random) of those AWS Organizations
    added to ``file_config``; one line each that failed and one summary line, each logged."""
    known = {a.account_number for a in file_config.accounts.values()}
    discovered = [n for n, a in config.accounts.items() if a.account_number not in known]
    if config.organizations is None or not discovered:
        return []
    chosen = random.sample(discovered, min(sample, len(discovered)))
    checked = await asyncio.gather(*(check_role(clients, name, config) for name in chosen))
    failed = [finding for finding in checked if not finding.ok]
    summary = Finding(
        "account_role",
        f"{len(chosen)} of {len(discovered)} accounts from AWS Organizations checked, "
        f"{len(chosen) - len(failed)} role(s) assumed; the others are checked on their first "
        "request",
        ok=not failed,
    )
    return [_report(finding) for finding in [*failed, summary]]


def _groups(config: BotConfig) -> dict[str, list[str]]:
    """Every approval group, with the accounts it approves for."""
    groups: dict[str, list[str]] = {}
    for name in config.accounts:
        for group in config.approval_groups_for(name):
            groups.setdefault(group, []).append(name)
    return groups


async def check_group_names(client: AsyncWebClient, config: BotConfig) -> list[Finding]:
    """Every configured approval or admin group that does not name exactly one Slack user
    group (unknown, ambiguous, a display name), by config key; or the free-plan problem."""
    problems = await slack_directory.check_groups(client, config)
    return [Finding("approval_groups", problem, ok=False) for problem in problems]


async def check_groups(directory: Directory, config: BotConfig) -> list[Finding]:
    """The members of each approval group (each group named exactly: ``check_group_names``)."""
    findings = []
    for group, accounts in _groups(config).items():
        try:
            members = await directory.members_of([group], fresh=True)
        except Exception as error:
            if "plan_upgrade_required" in str(error):
                return [Finding("approval_groups", PAID_PLAN, ok=False)]
            findings.append(
                Finding("approval_groups", f"approval group {group}: {error}", ok=False)
            )
            continue
        if members:
            findings.append(
                Finding("approval_groups", f"approval group {group}: {len(members)} member(s)")
            )
        else:
            findings.append(
                Finding(
                    "approval_groups",
                    f"approval group {group}: not found in Slack or no active members; "
                    f"requests for {', '.join(accounts)} cannot be approved",
                    ok=False,
                )
            )
    return findings


async def preflight(
    *,
    client: AsyncWebClient,
    api_url: str,
    app_token: str,
    source: ConfigSource,
    clients: AwsClients,
    store: Store,
    directory: Directory,
) -> Sequence[Finding]:
    """Run every check, logging one line each. Raises StartupFailed on a fatal one."""
    config = source.current
    findings = [
        _report(await check_bot_token(client, api_url)),
        _report(await check_app_token(client, app_token)),
        _report(check_config(source, config)),
        _report(await check_store(clients, store, config)),
    ]
    organization = await check_organization(clients, config)
    if organization is not None:
        findings.append(_report(organization))
    for name in config.accounts:
        findings.append(_report(await check_role(clients, name, config)))
    groups = await check_group_names(client, config) or await check_groups(directory, config)
    findings += [_report(finding) for finding in groups]
    warnings = await slack_directory.approver_warnings(client, config)
    findings += [_report(Finding("approvers", warning, ok=False)) for warning in warnings]
    return findings
