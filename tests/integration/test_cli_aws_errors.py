"""An operator's AWS mistakes reach them as one line naming the cause and the fix, never a
traceback: `audit` and `check-config` run as processes against moto server (and the fault
proxy in front of it for throttling and denials)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot_sandbox.faults import AwsFaultProxy
from cloud_access_bot_sandbox.scenario import sandbox_config

NO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
}


def config_file(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "bot.yml"
    data = sandbox_config().model_dump(mode="json") | {"dynamodb_table": table}
    path.write_text(json.dumps(data))
    return path


async def cli(*args: str, **env: str | None) -> tuple[int, list[str]]:
    """Exit code and the lines of stderr of ``cloud-access-bot <args>``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SLACK_"))}
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloud_access_bot",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stderr.decode().strip().splitlines()


@pytest.fixture
async def table(aws: str) -> AsyncIterator[str]:
    clients = AwsClients(region="eu-west-1")
    try:
        await DynamoStore(clients, "audited").ensure_table()
    finally:
        await clients.close()
    yield "audited"


async def test_audit_on_a_missing_table(aws: str, tmp_path: Path) -> None:
    code, err = await cli(
        "audit", "list", BOT_CONFIG_FILE=str(config_file(tmp_path, "no_such_table"))
    )

    assert code == 1
    [line] = err
    assert "DynamoDB table no_such_table: not found (ResourceNotFoundException)" in line
    assert "check the name and the region" in line


async def test_audit_at_an_unreachable_endpoint(aws: str, tmp_path: Path) -> None:
    code, err = await cli(
        "audit",
        "list",
        BOT_CONFIG_FILE=str(config_file(tmp_path, "audited")),
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
    )

    assert code == 1
    [line] = err
    assert "cannot reach AWS" in line and "AWS_ENDPOINT_URL" in line


async def test_audit_without_credentials(aws: str, tmp_path: Path) -> None:
    code, err = await cli(
        "audit", "list", BOT_CONFIG_FILE=str(config_file(tmp_path, "audited")), **NO_CREDENTIALS
    )

    assert code == 1
    [line] = err
    assert "no AWS credentials found" in line and "task or instance role" in line


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("throttle", "AWS is throttling or unavailable (ThrottlingException); try again"),
        ("access_denied", "access denied (AccessDeniedException); the caller's IAM policy needs"),
    ],
)
async def test_audit_throttled_or_denied(
    aws: str, table: str, tmp_path: Path, kind: str, expected: str
) -> None:
    proxy = AwsFaultProxy(aws)
    await proxy.start()
    try:
        proxy.inject(kind, "dynamodb", times=None)
        code, err = await cli(
            "audit",
            "list",
            BOT_CONFIG_FILE=str(config_file(tmp_path, table)),
            AWS_ENDPOINT_URL=proxy.endpoint,
        )
    finally:
        await proxy.stop()

    assert code == 1
    [line] = err
    assert expected in line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "bucket does not exist"),
        (NO_CREDENTIALS, "cannot read: no AWS credentials found"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot read: cannot reach AWS"),
    ],
)
async def test_check_config_from_s3_names_the_cause(
    aws: str, env: dict[str, str | None], expected: str
) -> None:
    code, err = await cli(
        "check-config",
        BOT_CONFIG_S3_BUCKET="no-such-bucket",
        BOT_CONFIG_S3_KEY="bot.yml",
        **env,
    )

    assert code == 2
    assert err[0].startswith("s3://no-such-bucket/bot.yml: ")
    assert expected in err[0]
    assert err[1:] == ["1 problem found"]
