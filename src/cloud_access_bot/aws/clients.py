"""AWS clients for the bot's own account and, through AssumeRole, for each target account.

One object per process, passed to every AWS adapter (never a module-level client). Clients are
kept open and reused, keyed by service, region and credentials: an aiobotocore client per call
costs a new HTTP session and connection each time (200 GetItem against moto: ~29 ms a call with
a new client each time, ~3 ms with a kept client). Assumed-role credentials are cached per role
ARN and renewed a few minutes before they expire; a client built on renewed credentials
replaces the old one, which is closed once no caller still holds it. Discovery, which touches
every service in every region of every account, uses clients shared by all accounts instead
(``with_assumed_shared``): each call signs with the credentials of the calling task's role.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentials
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession
from botocore.credentials import CredentialProvider, ReadOnlyCredentials
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.httpsession import get_cert_path

from cloud_access_bot.aws.errors import AssumeRoleError, error_code, error_message, is_expired_token
from cloud_access_bot.domain.model import utcnow

T = TypeVar("T")

SESSION_NAME = "cloud-access-bot"
#: Renew assumed-role credentials this long before AWS says they expire.
REFRESH_MARGIN = timedelta(minutes=5)


class SharedTlsSession(AIOHTTPSession):
    """aiobotocore's HTTP session, with one TLS context for every client of the process.

    aiobotocore builds a new SSL context and loads the CA bundle for each client (~16 ms of
    event-loop time each); discovery opens a client per service, region and account, so that
    alone blocked the loop for seconds. The CA bundle is the same for all, so load it once.
    """

    _shared: ssl.SSLContext | None = None

    def _create_connector(self, proxy_url: str | None) -> aiohttp.TCPConnector:
        if proxy_url or not self._verify or self._cert_file:
            return super()._create_connector(proxy_url)
        if SharedTlsSession._shared is None:
            context = self._get_ssl_context()
            ca_certs = get_cert_path(self._verify)
            if ca_certs:
                context.load_verify_locations(ca_certs, None, None)
            SharedTlsSession._shared = context
        return aiohttp.TCPConnector(
            limit=self._max_pool_connections,
            ssl=SharedTlsSession._shared,
            **self._connector_args,
        )


BOTO_CONFIG = AioConfig(
    retries={"mode": "adaptive", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=10,
    max_pool_connections=50,
    http_session_cls=SharedTlsSession,
)
#: For clients shared by every account: no client-side rate limiter shared between accounts.
SHARED_BOTO_CONFIG = BOTO_CONFIG.merge(AioConfig(retries={"mode": "standard", "max_attempts": 5}))


@dataclass(frozen=True)
class _Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: datetime

    def fresh(self, now: datetime) -> bool:
        return now < self.expires_at - REFRESH_MARGIN


#: The assumed-role credentials the current task's calls on a shared client sign with
#: (see ``AwsClients.with_assumed_shared``); tasks started inside inherit them.
_task_credentials: ContextVar[_Credentials | None] = ContextVar(
    "cloud_access_bot_task_credentials", default=None
)


class _TaskCredentials(AioCredentials):
    """The credentials object of a shared client: it hands the signer the credentials of the
    calling task, and refuses to sign outside ``with_assumed_shared`` (never falling back to
    the bot's own credentials, which would list the bot's account as if it were the target)."""

    def __init__(self) -> None:
        super().__init__(access_key="", secret_key="", method="cloud-access-bot-task")

    async def get_frozen_credentials(self) -> ReadOnlyCredentials:
        current = _task_credentials.get()
        if current is None:
            raise NoCredentialsError()
        return ReadOnlyCredentials(
            current.access_key_id, current.secret_access_key, current.session_token, None
        )


class _TaskCredentialProvider(CredentialProvider):
    METHOD = "cloud-access-bot-task"
    CANONICAL_NAME = "custom-cloud-access-bot-task"

    async def load(self) -> _TaskCredentials:
        return _TaskCredentials()


def _sessions() -> tuple[aioboto3.Session, aioboto3.Session]:
    """The session of the bot's own and per-role clients, and the session of shared clients
    (signing with ``_TaskCredentials`` before any other source). They share one loader: each
    service model and the endpoint data (megabytes of JSON) are parsed once per process."""
    own = AioSession()
    shared = AioSession()
    shared.register_component("data_loader", own.get_component("data_loader"))
    shared.get_component("credential_provider").insert_before("env", _TaskCredentialProvider())
    return aioboto3.Session(botocore_session=own), aioboto3.Session(botocore_session=shared)


async def _twice_if_expired(
    open_client: Callable[[], AbstractAsyncContextManager[Any]],
    work: Callable[[Any], Awaitable[T]],
) -> T:
    """``work`` on a client from ``open_client``, once more on a new one if AWS said the
    session token expired (the client context has dropped the credentials by then)."""
    try:
        async with open_client() as client:
            return await work(client)
    except Exception as exc:
        if not is_expired_token(exc):
            raise
    async with open_client() as client:
        return await work(client)


@dataclass
class _OpenClient:
    """A cached client, the context it was opened with, and how many callers hold it now."""

    client: Any
    context: Any
    access_key_id: str | None
    users: int = 0
    retired: bool = False


_Key = tuple[str, str, str | None]
#: The role part of the key of a client shared by every target account.
_SHARED = "*"


class AwsClients:
    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
    ) -> None:
        self.region = region
        # None lets botocore read AWS_ENDPOINT_URL (moto in tests and the demo).
        self._endpoint_url = endpoint_url
        self._session, self._shared_session = _sessions()
        self._open: dict[_Key, _OpenClient] = {}
        self._open_lock = asyncio.Lock()
        self._credentials: dict[str, _Credentials] = {}
        self._role_locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def client(self, service: str, region: str | None = None) -> AsyncIterator[Any]:
        """A client with the bot's own credentials (its task role in production)."""
        async with self._lease((service, region or self.region, None), None) as client:
            yield client

    @asynccontextmanager
    async def assumed(
        self, service: str, role_arn: str, region: str | None = None
    ) -> AsyncIterator[Any]:
        """A client in the target account of ``role_arn``.

        Raises AssumeRoleError when the role cannot be assumed. If AWS reports the session
        token expired inside the block, the cached credentials are dropped (so the next call
        assumes the role again) and the error propagates; use ``with_assumed`` to retry.
        """
        credentials = await self._role_credentials(role_arn)
        key = (service, region or self.region, role_arn)
        try:
            async with self._lease(key, credentials) as client:
                yield client
        except Exception as exc:
            if is_expired_token(exc):
                self._forget(role_arn, credentials)
            raise

    async def with_assumed(
        self,
        service: str,
        role_arn: str,
        work: Callable[[Any], Awaitable[T]],
        region: str | None = None,
    ) -> T:
        """Run ``work(client)`` in the target account, once more with new credentials if AWS
        says the token expired (``work`` must be safe to repeat)."""
        return await _twice_if_expired(lambda: self.assumed(service, role_arn, region), work)

    async def with_assumed_shared(
        self,
        service: str,
        role_arn: str,
        work: Callable[[Any], Awaitable[T]],
        region: str | None = None,
    ) -> T:
        """``with_assumed``, on one client per (service, region) shared by every account.

        Discovery lists 13 services in every region of every account; a client per (service,
        region, account) costs ~11 ms of CPU to create and stays open, so 20 accounts x 4
        regions meant ~1,000 clients, seconds of blocked event loop and ~300 MB more memory.
        A shared client signs each call with the credentials of ``role_arn``, set for the
        task running ``work`` (and the tasks it starts). ``work`` must not use the client of
        an enclosing ``with_assumed_shared`` for another role: it would sign as this one.
        Shared clients retry in botocore's standard mode, without adaptive mode's client-side
        rate limiter, so one account's throttling does not slow the others (their retry quota
        is still shared). Not for S3 calls on a directory bucket: botocore caches S3 Express
        sessions per bucket name, whichever account asked first.
        """
        return await _twice_if_expired(lambda: self._shared(service, role_arn, region), work)

    @asynccontextmanager
    async def _shared(
        self, service: str, role_arn: str, region: str | None = None
    ) -> AsyncIterator[Any]:
        """``assumed`` on the shared client: ``role_arn``'s credentials sign this task's calls."""
        credentials = await self._role_credentials(role_arn)
        token = _task_credentials.set(credentials)
        try:
            async with self._lease((service, region or self.region, _SHARED), None) as client:
                yield client
        except Exception as exc:
            if is_expired_token(exc):
                self._forget(role_arn, credentials)
            raise
        finally:
            _task_credentials.reset(token)

    async def close(self) -> None:
        async with self._open_lock:
            entries = list(self._open.values())
            self._open.clear()
        for entry in entries:
            await entry.context.__aexit__(None, None, None)

    @asynccontextmanager
    async def _lease(self, key: _Key, credentials: _Credentials | None) -> AsyncIterator[Any]:
        entry = await self._open_client(key, credentials)
        entry.users += 1
        try:
            yield entry.client
        finally:
            entry.users -= 1
            if entry.retired and entry.users == 0:
                await entry.context.__aexit__(None, None, None)

    async def _open_client(self, key: _Key, credentials: _Credentials | None) -> _OpenClient:
        access_key_id = credentials.access_key_id if credentials else None
        async with self._open_lock:
            entry = self._open.get(key)
            if entry is not None and entry.access_key_id == access_key_id:
                return entry
            service, region, _ = key
            keys: dict[str, str] = {}
            if credentials is not None:
                keys = {
                    "aws_access_key_id": credentials.access_key_id,
                    "aws_secret_access_key": credentials.secret_access_key,
                    "aws_session_token": credentials.session_token,
                }
            shared = key[2] == _SHARED
            session = self._shared_session if shared else self._session
            context = session.client(
                service,
                region_name=region,
                endpoint_url=self._endpoint_url,
                config=SHARED_BOTO_CONFIG if shared else BOTO_CONFIG,
                **keys,
            )
            fresh = _OpenClient(await context.__aenter__(), context, access_key_id)
            self._open[key] = fresh
        if entry is not None:
            await self._retire(entry)
        return fresh

    async def _retire(self, entry: _OpenClient) -> None:
        """Close a replaced client now, or when its last current user is done with it."""
        entry.retired = True
        if entry.users == 0:
            await entry.context.__aexit__(None, None, None)

    async def _role_credentials(self, role_arn: str) -> _Credentials:
        cached = self._credentials.get(role_arn)
        if cached and cached.fresh(utcnow()):
            return cached
        lock = self._role_locks.setdefault(role_arn, asyncio.Lock())
        async with lock:
            cached = self._credentials.get(role_arn)
            if cached and cached.fresh(utcnow()):
                return cached
            fetched = await self._assume_role(role_arn)
            self._credentials[role_arn] = fetched
            return fetched

    async def _assume_role(self, role_arn: str) -> _Credentials:
        try:
            async with self.client("sts") as sts:
                answer = await sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)
        except ClientError as exc:
            raise AssumeRoleError(role_arn, error_code(exc), error_message(exc)) from exc
        raw = answer["Credentials"]
        return _Credentials(
            access_key_id=raw["AccessKeyId"],
            secret_access_key=raw["SecretAccessKey"],
            session_token=raw["SessionToken"],
            expires_at=raw["Expiration"].astimezone(UTC),
        )

    def _forget(self, role_arn: str, credentials: _Credentials) -> None:
        if self._credentials.get(role_arn) == credentials:
            del self._credentials[role_arn]
