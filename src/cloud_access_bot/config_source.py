"""Where the YAML configuration comes from (a local file or an S3 object) and its live reload.

A source keeps the last good configuration: a new version that is invalid or unreadable is
logged (once per distinct problem) and ignored, so a bad edit in S3 never takes the bot down.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aioboto3
from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.aws.explain import explain
from cloud_access_bot.config import BotConfig, ConfigError, parse_config
from cloud_access_bot.settings import Settings

log = logging.getLogger(__name__)

#: Returns an async context manager yielding an S3 client, e.g. ``lambda: clients.client("s3")``.
ClientFactory = Callable[[], AbstractAsyncContextManager[Any]]


class ConfigSource(Protocol):
    description: str

    async def load(self) -> BotConfig: ...

    async def refresh(self) -> bool: ...

    @property
    def current(self) -> BotConfig: ...

    @property
    def version(self) -> str | None: ...

    async def watch(self, stop: asyncio.Event, interval: float) -> None: ...


@dataclass(frozen=True)
class _Fetched:
    version: str
    text: str


class _ReloadingSource(abc.ABC):
    """Shared load / refresh / watch logic; subclasses only know how to fetch a version."""

    description: str

    def __init__(self) -> None:
        self._current: BotConfig | None = None
        self._seen_version: str | None = None
        self._last_problem: str | None = None

    @abc.abstractmethod
    async def _fetch(self, unless_version: str | None) -> _Fetched | None:
        """Read the configuration, or return None if its version is still ``unless_version``."""

    @property
    def version(self) -> str | None:
        """The version last read: the S3 ETag, or the SHA-256 of a local file."""
        return self._seen_version

    @property
    def current(self) -> BotConfig:
        if self._current is None:
            raise RuntimeError(f"configuration from {self.description} was never loaded")
        return self._current

    async def load(self) -> BotConfig:
        fetched = await self._fetch(None)
        assert fetched is not None, "an unconditional fetch always returns the content"
        self._current = parse_config(fetched.text, self.description)
        self._seen_version = fetched.version
        self._last_problem = None
        return self._current

    async def refresh(self) -> bool:
        """Re-read if changed; True only if a new valid configuration was taken."""
        try:
            fetched = await self._fetch(self._seen_version)
            if fetched is None:
                return False
            self._seen_version = fetched.version
            config = parse_config(fetched.text, self.description)
        except ConfigError as exc:
            self._report(exc)
            return False
        self._current = config
        self._last_problem = None
        log.info(
            "configuration reloaded",
            extra={"source": self.description, "accounts": sorted(config.accounts)},
        )
        return True

    def _report(self, exc: ConfigError) -> None:
        problem = str(exc)
        level = logging.DEBUG if problem == self._last_problem else logging.WARNING
        self._last_problem = problem
        action = "keeping the last good one" if self._current else "no configuration loaded yet"
        log.log(
            level,
            "configuration from %s rejected, %s",
            self.description,
            action,
            extra={"source": self.description, "problems": exc.problems},
        )

    async def watch(self, stop: asyncio.Event, interval: float) -> None:
        """Refresh every ``interval`` seconds until ``stop`` is set; never raises."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                await self.refresh()
            except Exception:
                log.exception("configuration refresh failed", extra={"source": self.description})


class FileConfigSource(_ReloadingSource):
    """A local YAML file; re-read when its mtime, size or inode change, taken if the text did."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        self.description = str(path)
        self._stat_key: tuple[int, int, int] | None = None

    async def _fetch(self, unless_version: str | None) -> _Fetched | None:
        return await asyncio.to_thread(self._read, unless_version)

    def _read(self, unless_version: str | None) -> _Fetched | None:
        try:
            stat = self.path.stat()
            stat_key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if unless_version is not None and stat_key == self._stat_key:
                return None
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(self.description, ["file not found"]) from None
        except IsADirectoryError:
            raise ConfigError(self.description, ["is a directory, not a file"]) from None
        except PermissionError:
            raise ConfigError(self.description, ["permission denied"]) from None
        except OSError as exc:
            raise ConfigError(self.description, [f"cannot read: {exc.strerror}"]) from None
        self._stat_key = stat_key
        version = hashlib.sha256(data).hexdigest()
        if version == unless_version:
            return None
        return _Fetched(version, _decode(data, self.description))


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"not UTF-8 text (byte {exc.start})"]) from None


_S3_PROBLEMS = {
    "NoSuchKey": "object not found",
    "NoSuchBucket": "bucket does not exist",
    "AccessDenied": "access denied (the bot needs s3:GetObject on this object)",
    "403": "access denied (the bot needs s3:GetObject on this object)",
    "404": "object not found",
}


def _unreadable(exc: BaseException) -> str:
    return explain(exc, action="s3:GetObject on the object", resource="cannot read")


class S3ConfigSource(_ReloadingSource):
    """An S3 object; a refresh is a conditional GetObject (IfNoneMatch on the ETag)."""

    def __init__(self, bucket: str, key: str, client_factory: ClientFactory) -> None:
        super().__init__()
        self.bucket = bucket
        self.key = key
        self.description = f"s3://{bucket}/{key}"
        self._client_factory = client_factory

    async def _fetch(self, unless_version: str | None) -> _Fetched | None:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if unless_version is not None:
            request["IfNoneMatch"] = unless_version
        try:
            async with self._client_factory() as s3:
                response = await s3.get_object(**request)
                async with response["Body"] as body:
                    data = await body.read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("304", "NotModified"):
                return None
            problem = _S3_PROBLEMS.get(code) or _unreadable(exc)
            raise ConfigError(self.description, [problem]) from None
        except (BotoCoreError, OSError) as exc:
            raise ConfigError(self.description, [_unreadable(exc)]) from None
        return _Fetched(str(response["ETag"]), _decode(data, self.description))


def aioboto3_s3_factory(region: str, endpoint_url: str | None = None) -> ClientFactory:
    """A client factory built directly on aioboto3 (one session, a client per use)."""
    session = aioboto3.Session()
    return lambda: session.client("s3", region_name=region, endpoint_url=endpoint_url)


def config_source_from(
    settings: Settings, client_factory: ClientFactory | None = None
) -> ConfigSource:
    """The source named by BOT_CONFIG_FILE, else BOT_CONFIG_S3_BUCKET + BOT_CONFIG_S3_KEY.

    ``client_factory`` lets the runtime share its S3 clients; by default one is made from
    aioboto3 with the settings' region and endpoint.
    """
    if settings.bot_config_file:
        return FileConfigSource(settings.bot_config_file)
    if not (settings.bot_config_s3_bucket and settings.bot_config_s3_key):
        raise ValueError("settings name no configuration source (see load_settings)")
    factory = client_factory or aioboto3_s3_factory(settings.aws_region, settings.aws_endpoint_url)
    return S3ConfigSource(settings.bot_config_s3_bucket, settings.bot_config_s3_key, factory)
