"""Console sign-in links: the federation exchange (faked, and the aiohttp fetcher locally)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from cloud_access_bot.aws.signin import (
    FEDERATION_URL,
    AiohttpTokenFetcher,
    SigninError,
    TemporaryCredentials,
    console_destination,
    signin_link,
)

CREDENTIALS = TemporaryCredentials(
    access_key_id="ASIAEXAMPLE",
    secret_access_key="very-secret-key",
    session_token="session-token/with+chars=",
    expiration=datetime(2030, 1, 1, tzinfo=UTC),
)


class FakeFetcher:
    def __init__(self, answer: Mapping[str, Any]) -> None:
        self.answer = answer
        self.calls: list[Mapping[str, str]] = []

    async def __call__(self, params: Mapping[str, str]) -> Mapping[str, Any]:
        self.calls.append(params)
        return self.answer


async def test_link_carries_the_token_and_the_exchange_the_credentials() -> None:
    fetch = FakeFetcher({"SigninToken": "TOKEN123"})
    link = await signin_link(
        CREDENTIALS,
        fetch=fetch,
        session_seconds=1800,
        destination=console_destination("eu-west-2"),
        issuer="https://slack.example.com",
    )
    [call] = fetch.calls
    assert call["Action"] == "getSigninToken"
    assert call["SessionDuration"] == "1800"
    assert json.loads(call["Session"]) == {
        "sessionId": "ASIAEXAMPLE",
        "sessionKey": "very-secret-key",
        "sessionToken": "session-token/with+chars=",
    }
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == FEDERATION_URL
    assert parse_qs(parts.query) == {
        "Action": ["login"],
        "Issuer": ["https://slack.example.com"],
        "Destination": ["https://eu-west-2.console.aws.amazon.com/console/home?region=eu-west-2"],
        "SigninToken": ["TOKEN123"],
    }
    assert "very-secret-key" not in link


@pytest.mark.parametrize(("asked", "sent"), [(60, "900"), (3600, "3600"), (90_000, "43200")])
async def test_session_duration_is_kept_in_the_endpoint_range(asked: int, sent: str) -> None:
    fetch = FakeFetcher({"SigninToken": "T"})
    await signin_link(CREDENTIALS, fetch=fetch, session_seconds=asked, destination="d", issuer="i")
    assert fetch.calls[0]["SessionDuration"] == sent


async def test_answer_without_token_is_an_error() -> None:
    with pytest.raises(SigninError, match="no sign-in token"):
        await signin_link(
            CREDENTIALS, fetch=FakeFetcher({}), session_seconds=900, destination="d", issuer="i"
        )


def test_credentials_repr_hides_secrets() -> None:
    text = repr(CREDENTIALS)
    assert "very-secret-key" not in text and "ASIAEXAMPLE" not in text
    assert "session-token" not in text


@pytest.fixture
async def federation() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A local stand-in for the federation endpoint: /ok answers a token, /fail a 400."""
    seen: list[dict[str, str]] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        return web.json_response({"SigninToken": "LOCALTOKEN"})

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=400, text="bad session")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_aiohttp_fetcher_sends_the_parameters(
    federation: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = federation
    link = await signin_link(
        CREDENTIALS,
        fetch=AiohttpTokenFetcher(f"{base}/ok"),
        session_seconds=900,
        destination="d",
        issuer="i",
    )
    assert "SigninToken=LOCALTOKEN" in link
    assert json.loads(seen[0]["Session"])["sessionKey"] == "very-secret-key"


async def test_aiohttp_fetcher_errors_never_quote_the_credentials(
    federation: tuple[str, list[dict[str, str]]],
) -> None:
    base, _ = federation
    for url in (f"{base}/fail", "http://127.0.0.1:1/unreachable"):
        with pytest.raises(SigninError) as raised:
            await AiohttpTokenFetcher(url, timeout=5)({"Session": "very-secret-key"})
        assert "very-secret-key" not in str(raised.value)
        # No chained aiohttp error either: its message would quote the URL.
        error = raised.value
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
