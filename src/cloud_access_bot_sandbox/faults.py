"""Fault injection for the sandbox: AWS failures in front of moto, a silent Slack, frozen work.

- :class:`AwsFaultProxy`: an aiohttp reverse proxy between the bot and moto. Point
  ``AWS_ENDPOINT_URL`` at :attr:`AwsFaultProxy.endpoint` before the ``AwsClients`` are built and
  every AWS call goes through it; :meth:`AwsFaultProxy.inject` makes matching calls fail the way
  AWS fails (throttling, 5xx, AccessDenied, an expired session token, a dropped connection, a
  slow answer), so botocore's retries, the credential cache and the bot's error handling are
  exercised exactly as in production.
- :func:`stop_pongs`: the emulator's newest Socket Mode connection stops answering pings, as a
  half-open TCP connection does; the SDK must notice the stale link and reconnect.
- :class:`Freeze`: one async method of an object blocks forever at its first call (before or
  after doing its work), which is what a process killed at that instant looks like to the rest
  of the world.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web

from cloud_access_bot_sandbox.slack_emulator import SlackEmulator

#: Fault kinds :meth:`AwsFaultProxy.inject` understands.
KINDS = ("throttle", "server_error", "access_denied", "expired_token", "drop", "delay")

_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")
_HOP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)


@dataclass
class AwsFault:
    """A rule: matching calls fail with ``kind`` (``times`` of them; None for every one)."""

    kind: str
    service: str = "*"
    operation: str = "*"
    times: int | None = 1
    access_key: str | None = None
    seconds: float = 0.0
    hits: int = 0

    def matches(self, call: AwsCall) -> bool:
        return (
            (self.times is None or self.hits < self.times)
            and self.service in ("*", call.service)
            and self.operation in ("*", call.operation)
            and self.access_key in (None, call.access_key)
        )


@dataclass(frozen=True)
class AwsCall:
    """One AWS call seen by the proxy, and the fault it got (``""``: passed through)."""

    service: str
    operation: str
    access_key: str
    fault: str = ""


@dataclass
class _Answer:
    status: int
    code: str
    message: str


def _answer(kind: str, service: str) -> _Answer:
    """The status and error code AWS uses for ``kind`` in ``service``."""
    dynamo = service == "dynamodb"
    if kind == "throttle":
        return _Answer(400, "ThrottlingException" if dynamo else "Throttling", "Rate exceeded")
    if kind == "server_error":
        return _Answer(500, "InternalServerError" if dynamo else "InternalFailure", "Internal")
    if kind == "access_denied":
        code = "AccessDeniedException" if dynamo else "AccessDenied"
        return _Answer(400 if dynamo else 403, code, "injected: explicit deny in an SCP")
    if kind == "expired_token":
        code = "ExpiredTokenException" if dynamo else "ExpiredToken"
        return _Answer(400, code, "The security token included in the request is expired")
    raise ValueError(f"unknown fault kind {kind!r}; use one of {KINDS}")


def _error_response(answer: _Answer, json_protocol: bool) -> web.Response:
    request_id = str(uuid.uuid4())
    if json_protocol:
        body = {"__type": f"com.amazonaws.service#{answer.code}", "message": answer.message}
        return web.Response(
            status=answer.status,
            text=json.dumps(body),
            content_type="application/x-amz-json-1.0",
            headers={"x-amzn-RequestId": request_id},
        )
    xml = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{answer.code}</Code><Message>{answer.message}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return web.Response(status=answer.status, text=xml, content_type="text/xml")


class AwsFaultProxy:
    """A reverse proxy in front of ``upstream`` (moto) that injects AWS faults on request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: list[AwsCall] = []
        self.faults: list[AwsFault] = []
        #: The most calls to each service that were in the proxy at the same moment.
        self.peak_in_flight: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def injected(self) -> int:
        """How many calls got a fault so far."""
        return sum(1 for call in self.calls if call.fault)

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession(auto_decompress=False)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def inject(
        self,
        kind: str,
        service: str = "*",
        operation: str = "*",
        *,
        times: int | None = 1,
        access_key: str | None = None,
        seconds: float = 0.0,
    ) -> AwsFault:
        """Make the next ``times`` matching calls fail (None: until :meth:`clear`).

        ``service`` is the signing name (``iam``, ``sts``, ``dynamodb``…), ``operation`` the
        API name (``PutRolePolicy``), ``access_key`` limits the fault to calls signed with those
        credentials; ``delay`` waits ``seconds`` and then forwards the call.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {KINDS}")
        fault = AwsFault(kind, service, operation, times, access_key, seconds)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def calls_to(self, service: str, operation: str = "*") -> list[AwsCall]:
        return [c for c in self.calls if c.service == service and operation in ("*", c.operation)]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        access_key, service = match.groups() if match else ("", "")
        self._in_flight[service] = now = self._in_flight.get(service, 0) + 1
        self.peak_in_flight[service] = max(now, self.peak_in_flight.get(service, 0))
        try:
            return await self._answer(request, access_key, service)
        finally:
            self._in_flight[service] -= 1

    async def _answer(
        self, request: web.Request, access_key: str, service: str
    ) -> web.StreamResponse:
        body = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2] if target else _query_action(request, body)
        call = AwsCall(service, operation, access_key)
        fault = next((f for f in self.faults if f.matches(call)), None)
        if fault is not None:
            fault.hits += 1
            self.calls.append(AwsCall(service, operation, access_key, fault.kind))
            if fault.kind == "drop":
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=502)
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            else:
                return _error_response(_answer(fault.kind, service), bool(target))
        else:
            self.calls.append(call)
        return await self._upstream(request, body)

    async def _upstream(self, request: web.Request, body: bytes) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as answer:
            payload = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
            if "Content-Encoding" in answer.headers:
                kept["Content-Encoding"] = answer.headers["Content-Encoding"]
            return web.Response(status=answer.status, body=payload, headers=kept)


def _query_action(request: web.Request, body: bytes) -> str:
    """The ``Action`` of a query-protocol call (IAM, STS), from the form body or the URL."""
    if "Action" in request.query:
        return request.query["Action"]
    if request.content_type == "application/x-www-form-urlencoded":
        return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return ""


def stop_pongs(emulator: SlackEmulator) -> None:
    """The emulator's open Socket Mode connections stop answering pings (a stale link).

    aiohttp answers pings itself while ``autoping`` is on; switching it off on the server side
    leaves the pings unanswered, and the emulator's read loop ignores them.
    """
    for ws in emulator._open_sockets():
        ws._autoping = False


@dataclass
class Freeze:
    """Make ``method`` of ``target`` block forever at its first call: a crash at that point.

    With ``after`` the real method runs first (its effects happen), then the caller blocks.
    Later calls pass through. Call :meth:`cancel` at the end of the test to drop the frozen
    task (a killed process never resumes it).
    """

    target: Any
    method: str
    after: bool = False
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    _frozen: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        real: Callable[..., Awaitable[Any]] = getattr(self.target, self.method)

        async def frozen(*args: Any, **kwargs: Any) -> Any:
            if self.reached.is_set():
                return await real(*args, **kwargs)
            if self.after:
                await real(*args, **kwargs)
            task = asyncio.current_task()
            assert task is not None
            self._frozen.append(task)
            self.reached.set()
            await asyncio.Event().wait()

        setattr(self.target, self.method, frozen)

    async def wait(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.reached.wait(), timeout)

    def cancel(self) -> None:
        for task in self._frozen:
            task.cancel()
