"""Console sign-in links from temporary credentials (the AWS federation endpoint).

Two steps (AWS's "custom identity broker" flow): exchange the credentials for a sign-in token
with ``Action=getSigninToken``, then build an ``Action=login`` URL carrying that token. The
link opens the console as the credentials' session and is valid for 15 minutes.

The HTTP exchange goes through an injectable :class:`TokenFetcher` (moto does not emulate the
federation endpoint, so tests fake it). Credentials and links are secrets: nothing here logs
them, ``TemporaryCredentials`` hides them from ``repr`` and errors never quote the URL (which
holds the credentials in its query string).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp

FEDERATION_URL = "https://signin.aws.amazon.com/federation"
#: getSigninToken's SessionDuration range, in seconds.
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43_200


class SigninError(Exception):
    """The federation endpoint did not give a sign-in token (message safe to show and log)."""


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime

    @classmethod
    def from_sts(cls, answer: Mapping[str, Any]) -> TemporaryCredentials:
        """From the ``Credentials`` of an ``sts.assume_role`` answer."""
        return cls(
            access_key_id=str(answer["AccessKeyId"]),
            secret_access_key=str(answer["SecretAccessKey"]),
            session_token=str(answer["SessionToken"]),
            expiration=answer["Expiration"],
        )

    def shell_exports(self) -> str:
        """``export AWS_…=…`` lines for a terminal."""
        return "\n".join(
            (
                f"export AWS_ACCESS_KEY_ID={self.access_key_id}",
                f"export AWS_SECRET_ACCESS_KEY={self.secret_access_key}",
                f"export AWS_SESSION_TOKEN={self.session_token}",
            )
        )


class TokenFetcher(Protocol):
    """GET the federation endpoint with ``params``; return the decoded JSON answer."""

    async def __call__(self, params: Mapping[str, str]) -> Mapping[str, Any]: ...


class AiohttpTokenFetcher:
    """The real fetcher: one GET to the federation endpoint (10 s budget)."""

    def __init__(self, url: str = FEDERATION_URL, timeout: float = 10.0) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __call__(self, params: Mapping[str, str]) -> Mapping[str, Any]:
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(self._url, params=dict(params)) as response,
            ):
                if response.status != 200:
                    raise SigninError(f"the federation endpoint answered HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # aiohttp's errors quote the request URL, which holds the credentials: drop it.
            raise SigninError(
                f"the federation endpoint could not be reached ({type(exc).__name__})"
            ) from None
        if not isinstance(answer, Mapping):
            raise SigninError("the federation endpoint answered something other than JSON")
        return answer


def console_destination(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/console/home?region={region}"


async def signin_link(
    credentials: TemporaryCredentials,
    *,
    fetch: TokenFetcher,
    session_seconds: int,
    destination: str,
    issuer: str,
    federation_url: str = FEDERATION_URL,
) -> str:
    """A console sign-in link for ``credentials``, the console session lasting
    ``session_seconds`` (clamped to 900..43,200 as the endpoint requires)."""
    session = json.dumps(
        {
            "sessionId": credentials.access_key_id,
            "sessionKey": credentials.secret_access_key,
            "sessionToken": credentials.session_token,
        }
    )
    seconds = max(MIN_SESSION_SECONDS, min(MAX_SESSION_SECONDS, session_seconds))
    answer = await fetch(
        {"Action": "getSigninToken", "SessionDuration": str(seconds), "Session": session}
    )
    token = answer.get("SigninToken")
    if not isinstance(token, str) or not token:
        raise SigninError("the federation endpoint gave no sign-in token")
    query = urlencode(
        {"Action": "login", "Issuer": issuer, "Destination": destination, "SigninToken": token}
    )
    return f"{federation_url}?{query}"
