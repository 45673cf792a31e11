"""Configuration from S3 (moto server) and from a file: load, live reload, keep the last good."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import aioboto3
import pytest

from cloud_access_bot.cli import main
from cloud_access_bot.config import ConfigError
from cloud_access_bot.config_source import (
    FileConfigSource,
    S3ConfigSource,
    aioboto3_s3_factory,
    config_source_from,
)
from cloud_access_bot.settings import load_settings

BUCKET = "bot-config-bucket"
KEY = "cloud-access-bot/config.yml"
LOGGER = "cloud_access_bot.config_source"


def config_text(account: str = "dev", number: str = "111122223333") -> str:
    return (
        "loginRoles: [SSO-Devops]\n"
        "approvalGroups: [devops]\n"
        "accounts:\n"
        f"  {account}:\n"
        f"    account_number: '{number}'\n"
        f"    iam_role: arn:aws:iam::{number}:role/cloud-access-bot\n"
    )


INVALID = config_text().replace("arn:aws:iam::", "arn:aws:iam:")


@pytest.fixture
async def s3(aws: str) -> AsyncIterator[Any]:
    """An S3 client on the moto server, with the config bucket created."""
    async with aioboto3.Session().client("s3", region_name="eu-west-1") as client:
        await client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield client


class CountingFactory:
    """The default aioboto3 factory, counting the GetObject calls that returned a body."""

    def __init__(self, endpoint: str) -> None:
        self._inner = aioboto3_s3_factory("eu-west-1", endpoint)
        self.downloads = 0

    def __call__(self) -> Any:
        factory = self

        class _Client:
            async def __aenter__(self) -> Any:
                self._cm = factory._inner()
                client = await self._cm.__aenter__()
                original = client.get_object

                async def get_object(**kwargs: Any) -> Any:
                    response = await original(**kwargs)
                    factory.downloads += 1
                    return response

                client.get_object = get_object
                return client

            async def __aexit__(
                self,
                kind: type[BaseException] | None,
                error: BaseException | None,
                trace: TracebackType | None,
            ) -> None:
                await self._cm.__aexit__(kind, error, trace)

        return _Client()


async def put(s3: Any, text: str) -> None:
    await s3.put_object(Bucket=BUCKET, Key=KEY, Body=text.encode())


async def loaded_source(endpoint: str, s3: Any) -> S3ConfigSource:
    """A source that has loaded the dev config from the bucket."""
    await put(s3, config_text("dev"))
    source = S3ConfigSource(BUCKET, KEY, aioboto3_s3_factory("eu-west-1", endpoint))
    await source.load()
    return source


async def test_s3_load_change_refresh(aws: str, s3: Any) -> None:
    await put(s3, config_text("dev"))
    factory = CountingFactory(aws)
    source = S3ConfigSource(BUCKET, KEY, factory)

    config = await source.load()
    assert list(config.accounts) == ["dev"]
    assert source.description == f"s3://{BUCKET}/{KEY}"

    assert await source.refresh() is False  # unchanged: answered 304, nothing downloaded
    assert factory.downloads == 1

    await put(s3, config_text("staging", "444455556666"))
    assert await source.refresh() is True
    assert list(source.current.accounts) == ["staging"]
    assert source.current.accounts["staging"].account_number == "444455556666"
    assert factory.downloads == 2


async def test_s3_invalid_update_keeps_last_good_and_logs_why(
    aws: str, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    source = await loaded_source(aws, s3)

    await put(s3, INVALID)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert await source.refresh() is False
        assert await source.refresh() is False  # same bad version: not fetched again

    assert list(source.current.accounts) == ["dev"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "keeping the last good one" in warnings[0].getMessage()
    problems = warnings[0].problems  # type: ignore[attr-defined]
    assert problems[0].startswith("accounts.dev.iam_role:")

    await put(s3, config_text("fixed"))
    assert await source.refresh() is True
    assert list(source.current.accounts) == ["fixed"]


async def test_s3_deleted_object_keeps_last_good(
    aws: str, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    source = await loaded_source(aws, s3)

    await s3.delete_object(Bucket=BUCKET, Key=KEY)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert await source.refresh() is False

    assert list(source.current.accounts) == ["dev"]
    [record] = caplog.records
    assert record.problems == ["object not found"]  # type: ignore[attr-defined]
    assert f"s3://{BUCKET}/{KEY}" in record.getMessage()


@pytest.mark.parametrize(
    ("bucket", "key", "problem"),
    [
        (BUCKET, "missing.yml", "object not found"),
        ("no-such-config-bucket", KEY, "bucket does not exist"),
    ],
)
async def test_s3_load_errors_name_the_object(
    aws: str, s3: Any, bucket: str, key: str, problem: str
) -> None:
    source = S3ConfigSource(bucket, key, aioboto3_s3_factory("eu-west-1", aws))

    with pytest.raises(ConfigError) as caught:
        await source.load()

    assert str(caught.value) == f"s3://{bucket}/{key}: {problem}"


async def test_s3_invalid_config_on_load_names_the_source(aws: str, s3: Any) -> None:
    await put(s3, INVALID)
    source = S3ConfigSource(BUCKET, KEY, aioboto3_s3_factory("eu-west-1", aws))

    with pytest.raises(ConfigError) as caught:
        await source.load()

    assert caught.value.source == f"s3://{BUCKET}/{KEY}"
    assert caught.value.problems[0].startswith("accounts.dev.iam_role:")


async def test_watch_picks_up_a_change_and_stops(
    aws: str, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = await loaded_source(aws, s3)
    reloaded = asyncio.Event()
    refresh = source.refresh

    async def observed_refresh() -> bool:
        taken = await refresh()
        if taken:
            reloaded.set()
        return taken

    monkeypatch.setattr(source, "refresh", observed_refresh)
    stop = asyncio.Event()
    watcher = asyncio.create_task(source.watch(stop, interval=0.05))

    await put(s3, config_text("staging", "444455556666"))
    await asyncio.wait_for(reloaded.wait(), timeout=10)
    stop.set()

    await asyncio.wait_for(watcher, timeout=10)
    assert list(source.current.accounts) == ["staging"]


async def test_watch_survives_unexpected_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.yml"
    path.write_text(config_text())
    source = FileConfigSource(path)
    await source.load()
    calls = 0
    failed_three_times = asyncio.Event()

    async def broken_refresh() -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            failed_three_times.set()
        raise RuntimeError("boom")

    monkeypatch.setattr(source, "refresh", broken_refresh)
    stop = asyncio.Event()
    watcher = asyncio.create_task(source.watch(stop, interval=0.01))
    await asyncio.wait_for(failed_three_times.wait(), timeout=10)
    stop.set()

    await asyncio.wait_for(watcher, timeout=10)
    assert watcher.exception() is None


def test_config_source_from_settings(
    aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_CONFIG_FILE", raising=False)
    monkeypatch.setenv("BOT_CONFIG_S3_BUCKET", BUCKET)
    monkeypatch.setenv("BOT_CONFIG_S3_KEY", KEY)
    assert config_source_from(load_settings(require_slack=False)).description == (
        f"s3://{BUCKET}/{KEY}"
    )

    for name in ("BOT_CONFIG_S3_BUCKET", "BOT_CONFIG_S3_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("BOT_CONFIG_FILE", str(tmp_path / "bot.yml"))
    source = config_source_from(load_settings(require_slack=False))
    assert isinstance(source, FileConfigSource)


def test_check_config_reads_s3_from_the_environment(
    aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def upload(text: str) -> None:
        async with aioboto3.Session().client("s3", region_name="eu-west-1") as client:
            await client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
            await client.put_object(Bucket=BUCKET, Key=KEY, Body=text.encode())

    asyncio.run(upload(INVALID))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_CONFIG_FILE", raising=False)
    monkeypatch.setenv("BOT_CONFIG_S3_BUCKET", BUCKET)
    monkeypatch.setenv("BOT_CONFIG_S3_KEY", KEY)

    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"s3://{BUCKET}/{KEY}: accounts.dev.iam_role:")


class TestFileSource:
    async def test_reload_when_content_changes(self, tmp_path: Path) -> None:
        path = tmp_path / "bot.yml"
        path.write_text(config_text("dev"))
        source = FileConfigSource(path)
        await source.load()

        assert await source.refresh() is False
        path.write_text(config_text("staging", "444455556666"))
        assert await source.refresh() is True
        assert list(source.current.accounts) == ["staging"]

    async def test_touch_without_change_is_not_a_reload(self, tmp_path: Path) -> None:
        path = tmp_path / "bot.yml"
        path.write_text(config_text("dev"))
        source = FileConfigSource(path)
        await source.load()
        first = source.current

        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

        assert await source.refresh() is False
        assert source.current is first

    async def test_file_replaced_with_same_size_and_mtime_is_seen(self, tmp_path: Path) -> None:
        path = tmp_path / "bot.yml"
        path.write_text(config_text("aaa"))
        source = FileConfigSource(path)
        await source.load()
        mtime = path.stat().st_mtime_ns

        # What editors and Kubernetes ConfigMaps do: write a new file and rename it into place.
        replacement = tmp_path / "bot.yml.new"
        replacement.write_text(config_text("bbb"))
        os.utime(replacement, ns=(mtime, mtime))
        replacement.replace(path)

        assert await source.refresh() is True
        assert list(source.current.accounts) == ["bbb"]

    async def test_invalid_edit_keeps_last_good(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "bot.yml"
        path.write_text(config_text("dev"))
        source = FileConfigSource(path)
        await source.load()

        path.write_text("accounts: [\n")
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert await source.refresh() is False

        assert list(source.current.accounts) == ["dev"]
        [record] = caplog.records
        assert record.problems[0].startswith("line 2, column 1: not valid YAML")  # type: ignore[attr-defined]

    async def test_deleted_file_keeps_last_good(self, tmp_path: Path) -> None:
        path = tmp_path / "bot.yml"
        path.write_text(config_text("dev"))
        source = FileConfigSource(path)
        await source.load()

        path.unlink()

        assert await source.refresh() is False
        assert list(source.current.accounts) == ["dev"]

    async def test_current_before_load_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(RuntimeError, match="never loaded"):
            _ = FileConfigSource(tmp_path / "bot.yml").current
