"""Start-up checks with AWS Organizations, against moto's server: the reader role is checked,
a bounded sample of discovered accounts has its role assumed (never one AssumeRole per account
of a large organisation), and every problem is one line, never a traceback."""

from __future__ import annotations

import logging

import pytest

from cloud_access_bot.accounts_source import AccountsSource
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.organizations import organization_directory
from cloud_access_bot.config import BotConfig
from cloud_access_bot.startup import (
    DISCOVERED_SAMPLE,
    Finding,
    check_discovered_roles,
    check_organization,
)
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.organizations import READER_ROLE, SeedAccount, seed_organization
from cloud_access_bot_sandbox.scenario import sandbox_config

TREE = [SeedAccount(f"team-{n:02d}", "/Workloads", {}) for n in range(DISCOVERED_SAMPLE * 3)]


def org_config() -> BotConfig:
    return sandbox_config(
        organizations={
            "iam_role": READER_ROLE,
            "role_template": "arn:aws:iam::{account_id}:role/cloud-access-bot",
        }
    )


async def test_the_reader_role_is_checked_in_one_line(clients: AwsClients) -> None:
    assert await check_organization(clients, sandbox_config()) is None  # no organizations
    missing = await check_organization(clients, org_config())
    assert missing is not None and not missing.ok
    assert missing.line.startswith(f"AWS Organizations reader role {READER_ROLE}: ")
    assert "\n" not in missing.line and "Traceback" not in missing.line
    assert missing.line.endswith("Only the file's accounts are offered")

    await seed_organization(clients, TREE[:1])
    found = await check_organization(clients, org_config())
    assert found is not None and found.ok
    assert found.line.startswith(f"AWS Organizations reader role {READER_ROLE}: lists root r-")


async def checked_through_proxy(
    aws: str, clients: AwsClients, fault: str | None = None
) -> tuple[list[Finding], AwsFaultProxy]:
    """List the organisation, then check the discovered roles through the fault proxy (with
    ``fault`` on every AssumeRole), returning the findings and the proxy's record."""
    await seed_organization(clients, TREE)
    file_config = org_config()
    source = AccountsSource(lambda: file_config, lambda c: organization_directory(clients, c))
    assert await source.refresh()
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    if fault:
        proxy.inject(fault, "sts", "AssumeRole", times=None)
    through = AwsClients(region="eu-west-1", endpoint_url=proxy.endpoint)
    try:
        return await check_discovered_roles(through, source.config(), file_config), proxy
    finally:
        await through.close()
        await proxy.stop()


async def test_a_sample_of_discovered_accounts_is_checked_not_every_one(
    aws: str, clients: AwsClients, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cloud_access_bot.startup"):
        findings, proxy = await checked_through_proxy(aws, clients)
    assert len(proxy.calls_to("sts", "AssumeRole")) == DISCOVERED_SAMPLE
    discovered = len(TREE) + 1  # and the management account
    assert [f.line for f in findings] == [
        f"{DISCOVERED_SAMPLE} of {discovered} accounts from AWS Organizations checked, "
        f"{DISCOVERED_SAMPLE} role(s) assumed; the others are checked on their first request"
    ]
    assert findings[0].line in caplog.text
    # Without organizations, or before the first listing, nothing to check.
    assert await check_discovered_roles(clients, org_config(), org_config()) == []


async def test_roles_that_cannot_be_assumed_are_each_one_line(
    aws: str, clients: AwsClients
) -> None:
    findings, _ = await checked_through_proxy(aws, clients, "access_denied")
    *failed, summary = findings
    assert len(failed) == DISCOVERED_SAMPLE and not any(f.ok for f in findings)
    assert all("cannot assume" in f.line and "\n" not in f.line for f in failed)
    assert f"{DISCOVERED_SAMPLE} of {len(TREE) + 1} accounts" in summary.line
    assert "0 role(s) assumed" in summary.line
