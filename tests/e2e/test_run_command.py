"""`cloud-access-bot run` as ops start it: a process, env settings, SIGTERM to stop.

Every line the process writes is parsed: logs (every library's, at DEBUG) on stderr and EMF
metric documents on stdout are all JSON, and no token reaches either.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import Sandbox, sandbox, sandbox_config
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator
from tests.e2e.test_sigkill_restart import process_env


@dataclass
class Run:
    """A `cloud-access-bot run` process and what it wrote, each line parsed as JSON."""

    process: asyncio.subprocess.Process
    env: dict[str, str]
    stderr: list[dict[str, Any]] = field(default_factory=list)
    stdout: list[dict[str, Any]] = field(default_factory=list)

    def checks(self) -> dict[str, list[str]]:
        """The start-up check lines by check name."""
        found: dict[str, list[str]] = {}
        for record in self.stderr:
            if "check" in record:
                found.setdefault(str(record["check"]), []).append(str(record["msg"]))
        return found

    def errors(self) -> list[str]:
        return [str(r["msg"]) for r in self.stderr if r.get("level") == "ERROR"]


async def _read(stream: asyncio.StreamReader, into: list[dict[str, Any]]) -> None:
    while line := await stream.readline():
        into.append(json.loads(line))  # a line that is not JSON fails the test here


def bot_env(world: Sandbox, tmp_path: Path, **overrides: str) -> dict[str, str]:
    config = tmp_path / "config.yml"
    if not config.exists():
        config.write_text(json.dumps(world.config.model_dump(mode="json")))
    return process_env(
        world.emulator,
        config,
        tmp_path,
        **{"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG", **overrides},
    )


@asynccontextmanager
async def bot_process(env: dict[str, str]) -> AsyncIterator[Run]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloud_access_bot",
        "run",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    run = Run(process, env)
    assert process.stdout is not None and process.stderr is not None
    readers = asyncio.gather(_read(process.stdout, run.stdout), _read(process.stderr, run.stderr))
    try:
        yield run
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await readers


async def stop(run: Run) -> int:
    run.process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(run.process.wait(), 30)


async def health(env: dict[str, str]) -> tuple[int, str]:
    check = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloud_access_bot",
        "health",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await check.communicate()
    return int(check.returncode or 0), (out + err).decode().strip()


async def until(probe: Callable[[], bool], emulator: SlackEmulator, what: str) -> None:
    await emulator.wait_until(probe, timeout=30, description=what)


async def test_run_checks_connects_reports_health_and_stops_on_sigterm(
    aws: str, tmp_path: Path
) -> None:
    async with sandbox(start=False) as world:
        env = bot_env(world, tmp_path)
        async with bot_process(env) as run:
            await world.emulator.wait_connected(timeout=30)
            health_file = Path(env["HEALTH_FILE"])
            await until(lambda: health_file.exists(), world.emulator, "the health file")
            code, reason = await health(env)
            assert (code, reason.split(" (as of")[0]) == (
                0,
                "healthy: connected to Slack, sweeper and store working",
            )
            assert await stop(run) == 0

    checks = run.checks()
    workspace = world.emulator.workspace
    assert checks["slack_bot_token"] == [
        f"start-up check: Slack bot token: team Emulator ({workspace.team_id}), bot user "
        f"{workspace.users[workspace.bot_user_id].name} ({workspace.bot_user_id})"
    ]
    assert checks["slack_app_token"] == [
        "start-up check: Slack app token: Socket Mode connections allowed"
    ]
    assert checks["config"][0].startswith(
        f"start-up check: configuration: {env['BOT_CONFIG_FILE']}"
    )
    assert "keys and 4 indexes as expected" in checks["store"][0]
    assert [line.split(": role assumed")[0] for line in checks["account_role"]] == [
        "start-up check: account development (111111111111)",
        "start-up check: account production (222222222222)",
    ]
    assert checks["approval_groups"] == ["start-up check: approval group devops: 2 member(s)"]
    loggers = {str(record["logger"]).split(".")[0] for record in run.stderr}
    assert {"botocore", "slack_sdk", "slack_bolt", "cloud_access_bot"} <= loggers
    everything = json.dumps(run.stderr) + json.dumps(run.stdout)
    assert world.emulator.bot_token not in everything
    assert world.emulator.app_token not in everything
    assert "/link/?ticket=[REDACTED]" in everything  # slack_sdk logged the URL, without ticket
    assert not re.search(r"ticket=(?!\[REDACTED\])", everything)
    metrics = {
        name
        for doc in run.stdout
        for m in doc["_aws"]["CloudWatchMetrics"]
        for name in (x["Name"] for x in m["Metrics"])
    }
    assert "SweepSucceeded" in metrics
    assert json.loads(health_file.read_text())["connected"] is False  # noqa: ASYNC240


async def test_an_app_token_slack_refuses_stops_the_start_with_the_fix(
    aws: str, tmp_path: Path
) -> None:
    async with sandbox(start=False) as world:
        world.emulator.fail_connections_open(error="not_allowed_token_type")
        async with bot_process(bot_env(world, tmp_path)) as run:
            code = await asyncio.wait_for(run.process.wait(), 30)

    assert code == 1
    assert run.errors() == [
        "cannot start: Slack app token (SLACK_APP_TOKEN): not_allowed_token_type; "
        "SLACK_APP_TOKEN is not an app-level token: use the xapp-… token from Basic "
        "Information → App-Level Tokens, not a bot or user token"
    ]


async def test_an_unreachable_slack_stops_the_start(aws: str, tmp_path: Path) -> None:
    async with sandbox(start=False) as world:
        env = bot_env(world, tmp_path, SLACK_API_URL="http://127.0.0.1:9/api/")
        async with bot_process(env) as run:
            code = await asyncio.wait_for(run.process.wait(), 60)

    assert code == 1
    [error] = run.errors()
    assert error.startswith("cannot start: cannot reach Slack at http://127.0.0.1:9/api/")


async def test_a_missing_table_stops_the_start(aws: str, tmp_path: Path) -> None:
    config = sandbox_config(create_table=False, dynamoDbTable="never_created")
    async with (
        sandbox(start=False, config=config) as world,
        bot_process(bot_env(world, tmp_path)) as run,
    ):
        code = await asyncio.wait_for(run.process.wait(), 30)

    assert code == 1
    assert run.errors() == [
        "cannot start: DynamoDB table never_created does not exist in eu-west-1: create it "
        "with the Terraform module (or set create_table: true for local use)"
    ]


@pytest.fixture
async def proxy(aws: str) -> AsyncIterator[AwsFaultProxy]:
    """The fault proxy in front of moto (the bot reaches AWS through it)."""
    made = AwsFaultProxy(aws)
    await made.start()
    yield made
    await made.stop()


async def test_an_account_whose_role_fails_is_reported_and_the_bot_starts(
    proxy: AwsFaultProxy, tmp_path: Path
) -> None:
    async with sandbox(start=False) as world:
        proxy.inject("access_denied", "sts", "AssumeRole")
        env = bot_env(world, tmp_path, AWS_ENDPOINT_URL=proxy.endpoint)
        async with bot_process(env) as run:
            await world.emulator.wait_connected(timeout=30)
            assert await stop(run) == 0

    development, production = run.checks()["account_role"]
    assert development.startswith(
        "start-up check: account development (111111111111): cannot assume "
        "arn:aws:iam::111111111111:role/cloud-access-bot (AccessDenied: "
    )
    assert "Requests for it will fail until then" in development
    assert "role assumed" in production


async def test_health_turns_unhealthy_when_the_table_refuses_the_sweeper(
    proxy: AwsFaultProxy, tmp_path: Path
) -> None:
    async with sandbox(start=False) as world:
        env = bot_env(world, tmp_path, AWS_ENDPOINT_URL=proxy.endpoint, LOG_LEVEL="INFO")
        async with bot_process(env) as run:
            await world.emulator.wait_connected(timeout=30)
            health_file = Path(env["HEALTH_FILE"])
            await until(lambda: health_file.exists(), world.emulator, "the health file")
            assert (await health(env))[0] == 0
            proxy.inject("access_denied", "dynamodb", "Query", times=None)
            for _ in range(60):
                code, reason = await health(env)
                if code:
                    break
                await asyncio.sleep(0.5)
            assert await stop(run) == 0

    assert code == 1
    assert reason.startswith(
        "unhealthy: the store is unreachable: DynamoDB table cloud_access_bot: access denied "
        "(AccessDeniedException); the caller's IAM policy needs dynamodb:Query"
    )


async def test_start_reports_each_group_that_does_not_name_exactly_one_slack_group(
    aws: str, tmp_path: Path
) -> None:
    """A display name, an ambiguous handle (two groups share it) and an unknown admin group
    are each reported at start with their config key, not as "no members"."""
    async with sandbox(start=False) as world:
        world.emulator.add_usergroup("sre", ["U0CAROL"], name="Site reliability")
        world.emulator.add_usergroup("oncall", ["U0BOB"])
        world.emulator.add_usergroup("oncall", ["U0MALLORY"])
        world.config = sandbox_config(
            approvalGroups=["devops", "Site reliability"], admin_groups=["oncall", "nobody"]
        )
        env = bot_env(world, tmp_path)
        async with bot_process(env) as run:
            await world.emulator.wait_connected(timeout=30)
            assert await stop(run) == 0

    lines = run.checks()["approval_groups"]
    assert [line.split(":")[1].strip() for line in lines] == [
        "approvalGroups.1",
        "admin_groups.0",
        "admin_groups.1",
    ], lines
    assert "display names never match" in lines[0]
    assert "matches several Slack user groups" in lines[1]


#: A rule on what is asked naming a group that does not exist, and approvers named by a
#: public channel: both load, both are warned about at check-config and at start.
RISKY = {
    "rules": [
        {
            "match": {"name": "production", "access_levels": ["Write"]},
            "set": {"approval_groups": ["sre-typo"]},
        }
    ],
    "approvers": ["#approvers-public", "#approvers-private"],
}
RISKY_WARNINGS = [
    "rules.0.set.approval_groups.0: 'sre-typo' is not the handle or id of any Slack user group",
    "approvers.0: '#approvers-public' is a public channel: anyone in the workspace may join",
]


def risky_workspace(world: Sandbox, tmp_path: Path) -> None:
    """The channels RISKY names, and its configuration written as its operator would (the
    keys they set only: a rule on what is asked may set only a few keys)."""
    world.emulator.add_channel("approvers-public", ["U0BOB"])
    world.emulator.add_channel("approvers-private", ["U0CAROL"], private=True)
    world.config = sandbox_config(**RISKY)
    written = world.config.model_dump(mode="json", exclude_unset=True)
    (tmp_path / "config.yml").write_text(json.dumps(written))


async def test_start_warns_of_a_public_approvers_channel_and_a_routed_unknown_group(
    aws: str, tmp_path: Path
) -> None:
    async with sandbox(start=False) as world:
        risky_workspace(world, tmp_path)
        env = bot_env(world, tmp_path)
        async with bot_process(env) as run:
            await world.emulator.wait_connected(timeout=30)
            assert await stop(run) == 0

    lines = run.checks()["approvers"]
    assert len(lines) == 2, lines
    for line, expected in zip(lines, RISKY_WARNINGS, strict=True):
        assert expected in line


async def check_config(env: dict[str, str]) -> tuple[int, str, str]:
    check = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloud_access_bot",
        "check-config",
        "--file",
        env["BOT_CONFIG_FILE"],
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await check.communicate()
    return int(check.returncode or 0), out.decode(), err.decode()


async def test_check_config_reports_groups_that_do_not_name_one_slack_group(
    aws: str, tmp_path: Path
) -> None:
    async with sandbox(start=False) as world:
        world.emulator.add_usergroup("sre", ["U0CAROL"], name="Site reliability")
        world.config = sandbox_config(approvalGroups=["devops", "Site reliability"])
        env = bot_env(world, tmp_path)
        code, out, err = await check_config(env)
        assert code == 2, (out, err)
        assert f"{env['BOT_CONFIG_FILE']}: approvalGroups.1: 'Site reliability'" in err
        assert "display names never match" in err and "1 problem found" in err

        good = tmp_path / "good"
        good.mkdir()
        world.config = sandbox_config()
        code, out, err = await check_config(bot_env(world, good))
        assert code == 0, err
        assert "approval groups: each names exactly one Slack user group" in out

        risky = tmp_path / "risky"
        risky.mkdir()
        risky_workspace(world, risky)
        code, out, err = await check_config(bot_env(world, risky))
        assert code == 0, err
        for expected in RISKY_WARNINGS:
            assert f"{risky / 'config.yml'}: warning: {expected}" in err
        assert "approvers-private" not in err

    code, out, err = await check_config(bot_env(world, good, SLACK_API_URL="http://127.0.0.1:9/"))
    assert code == 0, err
    assert "approval groups: not checked, Slack could not be reached" in out
    assert world.emulator.bot_token not in out + err
    unset = {k: v for k, v in bot_env(world, good).items() if k != "SLACK_BOT_TOKEN"}
    code, out, err = await check_config(unset)
    assert "approval groups: not checked against Slack (SLACK_BOT_TOKEN is not set)" in out
