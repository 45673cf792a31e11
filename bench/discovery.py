"""Cold resource discovery over many accounts: the app's concurrent units vs. one at a time.

Both runs use a fresh ``AwsClients`` (no cached credentials or clients) and a fresh
``ResourceDiscovery`` (empty cache), with every AWS call delayed by ``call_delay`` through
discovery's own hook, which stands in for the round trip to a real AWS region.

Both run after one untimed pass: moto builds each account's and region's backends on first use
(EC2's default VPC and subnets, KMS, RDS…): about 8 s for 20 accounts x 4 regions that real AWS
never spends, and that only whichever run went first would pay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.report import Metric, rounded
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.discovery import DISCOVERERS, ResourceDiscovery
from cloud_access_bot.domain.resources import DiscoveryResult

REGIONS = ("eu-west-1", "eu-west-2", "us-east-1", "us-west-2")
HOME_REGION = "eu-west-1"


@dataclass(frozen=True)
class DiscoveryScale:
    accounts: int
    regions: int
    call_delay: float


def bench_accounts(count: int) -> list[tuple[str, str]]:
    """(account id, bot role ARN) pairs; moto lets the bot assume a role in any account."""
    ids = [f"3{index:011d}" for index in range(1, count + 1)]
    return [(account, f"arn:aws:iam::{account}:role/cloud-access-bot") for account in ids]


async def seed(accounts: list[tuple[str, str]], regions: tuple[str, ...]) -> int:
    """A bucket per account and a queue per region, so discovery has something to find."""
    clients = AwsClients(region=HOME_REGION)
    try:
        for account, role in accounts:
            async with clients.assumed("s3", role, HOME_REGION) as s3:
                await s3.create_bucket(
                    Bucket=f"bench-{account}",
                    CreateBucketConfiguration={"LocationConstraint": HOME_REGION},
                )
            for region in regions:
                async with clients.assumed("sqs", role, region) as sqs:
                    await sqs.create_queue(QueueName=f"bench-{region}")
    finally:
        await clients.close()
    return len(accounts) * (1 + len(regions))


async def timed_discovery(
    accounts: list[tuple[str, str]], regions: tuple[str, ...], call_delay: float, concurrency: int
) -> tuple[float, DiscoveryResult]:
    clients = AwsClients(region=HOME_REGION)
    discovery = ResourceDiscovery(clients, call_delay=call_delay, concurrency=concurrency)
    try:
        started = time.monotonic()
        result = await discovery.discover(accounts, regions, list(DISCOVERERS))
        return time.monotonic() - started, result
    finally:
        await clients.close()


def units(accounts: int, regions: int) -> int:
    """(account, region, service) units: a global service is listed once per account."""
    per_account = sum(1 if spec.is_global else regions for spec in DISCOVERERS.values())
    return accounts * per_account


async def measure(scale: DiscoveryScale, baseline_accounts: int) -> tuple[list[Metric], int]:
    """The app's discovery over every account, and the sequential baseline.

    The sequential run covers the first ``baseline_accounts`` accounts and is scaled up to all
    of them: one unit at a time, its duration is the sum of equal per-account work, and running
    it in full would take minutes.
    """
    accounts = bench_accounts(scale.accounts)
    regions = REGIONS[: scale.regions]
    seeded = await seed(accounts, regions)
    await timed_discovery(accounts, regions, call_delay=0.0, concurrency=32)
    app_s, app = await timed_discovery(accounts, regions, scale.call_delay, concurrency=32)
    sample = accounts[:baseline_accounts]
    sample_s, sequential = await timed_discovery(sample, regions, scale.call_delay, concurrency=1)
    expected = {id(app): seeded, id(sequential): seeded * len(sample) // len(accounts)}
    for result in (app, sequential):
        if result.failures or len(result.resources) != expected[id(result)]:
            raise RuntimeError(
                f"discovery found {len(result.resources)} of {expected[id(result)]} resources; "
                f"failures: {[f.message for f in result.failures[:3]]}"
            )
    baseline_s = sample_s * len(accounts) / len(sample)
    metric = Metric(
        "discovery_cold_s",
        rounded(app_s),
        "s",
        baseline=rounded(baseline_s),
        target="≥ 10× faster than sequential",
    )
    return [metric], units(len(accounts), len(regions))
