"""Fixtures of the enforced-IAM suite: moto with IAM on, the world seeded by an operator, and
the real bot (Slack emulator, BotRuntime) running with its task role's credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from cloud_access_bot import runtime as runtime_module
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.config_source import S3ConfigSource
from cloud_access_bot_sandbox.scenario import ManualClock, Sandbox, seed_workspace
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator
from tests.iam.iam_world import ACCOUNTS, CONFIG_BUCKET, Operator, as_bot, seed
from tests.iam.moto_iam import DENIALS, set_enforcement, teach_moto


class Federation:
    """The console's federation endpoint (not an AWS API: it takes the session itself)."""

    async def __call__(self, params: object) -> dict[str, str]:
        return {"SigninToken": "FAKE-TOKEN"}


@pytest.fixture
def taught() -> Iterator[None]:
    """moto taught what the bot's calls need (moto_iam.py), for this test only."""
    with teach_moto():
        yield


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def operator() -> Operator:
    return Operator()


@pytest.fixture
def targets() -> tuple[str, ...]:
    """The target accounts seeded and configured (a test parametrizes it to fewer)."""
    return tuple(ACCOUNTS.values())


@pytest.fixture
async def world(
    targets: tuple[str, ...],
    aws: str,
    taught: None,
    clock: ManualClock,
    operator: Operator,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Sandbox]:
    """Seeded with IAM off; then IAM on for every request and one bot running as its task role."""
    set_enforcement(aws, after=float("inf"))
    task_role = await seed(operator, targets)
    set_enforcement(aws, after=0)
    DENIALS.clear()
    monkeypatch.setattr(runtime_module, "AiohttpTokenFetcher", Federation)
    as_bot(monkeypatch, task_role)
    clients = AwsClients(region="eu-west-1")
    emulator = SlackEmulator()
    await emulator.start()
    try:
        source = S3ConfigSource(CONFIG_BUCKET, "config.yml", lambda: clients.client("s3"))
        config = await source.load()
        made = Sandbox(emulator=emulator, clients=clients, accounts={}, config=config, clock=clock)
        seed_workspace(emulator)
        await made.start_bot()
        yield made
        for runtime in list(made.runtimes):
            await made.stop_bot(runtime)
        assert not emulator.problems, emulator.problems
    finally:
        await emulator.stop()
        await clients.close()
        set_enforcement(aws, after=float("inf"))
