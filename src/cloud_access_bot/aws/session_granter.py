"""The session_credentials access mode: temporary credentials and a console sign-in link.

For people without a login role (Keymaster / himeko style): in the target account (reached by
assuming the account's ``iam_role``) the bot assumes the account's ``broker_role`` with a
*session policy* limited to the grant, builds a console sign-in link from the credentials and
DMs it (and, when allowed, CLI credentials) to the requester. Nothing is written to IAM, so
there is no propagation delay and no quota to manage.

The session policy is the grant's usual policy without the ``aws:userid`` condition: it only
applies to this one session, so there is no other identity to exclude. Its time window is
kept: STS will not issue credentials for less than 15 minutes, so without the window a
1-minute grant would work for 15.

Limits of the mode (AWS's, not the bot's):

- credentials last at most 1 hour (``ROLE_CHAINED_MAX_SECONDS``: the bot reaches the broker
  role by role chaining); a longer grant gets a 1-hour session and the requester asks again;
- a session cannot be cut short: revoking or expiring the request ends nothing in AWS, the
  session policy's time window and the credentials' expiry do (``revoke`` returns False);
- session policies are limited to 2,048 characters: larger grants are refused.

The credentials and the link are handed to ``deliver`` and then forgotten: never logged, never
stored. The GrantResult carries only the session policy (what the audit trail records).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError, error_code, error_message, is_unavailable
from cloud_access_bot.aws.granter import assume_role_error, checked_document, where
from cloud_access_bot.aws.signin import (
    SigninError,
    TemporaryCredentials,
    TokenFetcher,
    console_destination,
    signin_link,
)
from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain.model import AccessRequest, utcnow
from cloud_access_bot.domain.policy import policy_json
from cloud_access_bot.ports import GrantError, GrantResult

#: STS's limit on a session policy's plaintext.
SESSION_POLICY_LIMIT = 2048
#: STS's shortest session, and the longest one when the caller is itself an assumed role.
MIN_SESSION_SECONDS = 900
ROLE_CHAINED_MAX_SECONDS = 3600
#: The condition a login-role policy uses to single out the requester's session.
USERID_CONDITION = "StringEqualsIgnoreCase"
_NOT_SESSION_NAME = re.compile(r"[^\w+=,.@-]")

Deliver = Callable[[AccessRequest, str], Awaitable[None]]


def session_name(email: str) -> str:
    """The RoleSessionName for a requester: their email, restricted to what STS accepts, so
    CloudTrail names the person."""
    name = _NOT_SESSION_NAME.sub("-", email)[:64]
    return name if len(name) >= 2 else f"cloud-access-bot-{name}"


def session_policy(document: Mapping[str, Any]) -> dict[str, Any]:
    """A grant's policy as a session policy: the same statements minus the ``aws:userid``
    condition (the time window stays, see the module doc)."""
    statements = []
    for statement in document["Statement"]:
        conditions = statement.get("Condition", {}).items()
        condition = {k: v for k, v in conditions if k != USERID_CONDITION}
        trimmed = {k: v for k, v in statement.items() if k != "Condition"}
        statements.append({**trimmed, "Condition": condition} if condition else trimmed)
    return {**document, "Statement": statements}


async def sized_session_policy(
    request: AccessRequest,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    what: str,
    code: str = "PolicyTooLarge",
) -> tuple[dict[str, Any], str]:
    """The grant as a session-style policy (``session_policy``) and its JSON, refused with a
    readable GrantError when longer than ``limit`` characters (``what`` names the holder)."""
    document = session_policy(await checked_document(request, "", start, end))
    text = policy_json(document)
    if len(text) > limit:
        raise GrantError(
            f"This grant needs a {len(text)}-character {what}; AWS allows {limit}. "
            "Ask for fewer actions or resources.",
            code,
        )
    return document, text


def session_seconds(now: datetime, end: datetime, cap: int = ROLE_CHAINED_MAX_SECONDS) -> int:
    """DurationSeconds for a grant ending at ``end``: what is left of it, within STS's range."""
    left = int((end - now).total_seconds())
    return max(MIN_SESSION_SECONDS, min(cap, left))


class SessionCredentialsGranter:
    """``ports.Granter`` for ``access_mode: session_credentials`` (see the module doc).

    ``cli_credentials(account)`` says whether CLI credentials are DMed along with the link.
    """

    def __init__(
        self,
        clients: AwsClients,
        *,
        deliver: Deliver,
        fetch_token: TokenFetcher,
        issuer: str = "cloud-access-bot",
        cli_credentials: Callable[[AccountConfig], bool] = lambda account: False,
        max_session_seconds: int = ROLE_CHAINED_MAX_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._clients = clients
        self._deliver = deliver
        self._fetch_token = fetch_token
        self._issuer = issuer
        self._cli_credentials = cli_credentials
        self._max_seconds = max_session_seconds
        self._clock = clock

    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        broker = account.broker_role
        if not broker:
            raise GrantError(f"No broker_role is configured for {where(account)}.", "NoBrokerRole")
        document, text = await sized_session_policy(
            request,
            start,
            end,
            limit=SESSION_POLICY_LIMIT,
            what="session policy",
            code="SessionPolicyTooLarge",
        )
        seconds = session_seconds(self._clock(), end, self._max_seconds)
        credentials = await self._assume(request, account, broker, text, seconds)
        region = (account.regions or [self._clients.region])[0]
        try:
            link = await signin_link(
                credentials,
                fetch=self._fetch_token,
                session_seconds=seconds,
                destination=console_destination(region),
                issuer=self._issuer,
            )
        except SigninError as exc:
            reason = f"The console sign-in link could not be made: {exc}."
            raise GrantError(reason, "Signin") from None
        message = self._message(request, account, credentials, link)
        await self._deliver(request, message)
        name = f"session:{broker.rsplit('/', 1)[-1]}"
        return GrantResult(policy_name=name, policy_document=document)

    async def revoke(self, request: AccessRequest, account: AccountConfig) -> bool:
        """Nothing to remove: the session ends with its policy's window and its expiry (STS
        cannot end one session early without denying every session of the broker role)."""
        return False

    async def _assume(
        self, request: AccessRequest, account: AccountConfig, broker: str, policy: str, seconds: int
    ) -> TemporaryCredentials:
        try:
            async with self._clients.assumed("sts", account.iam_role) as sts:
                answer = await sts.assume_role(
                    RoleArn=broker,
                    RoleSessionName=session_name(request.requester_email),
                    Policy=policy,
                    DurationSeconds=seconds,
                )
        except AssumeRoleError as exc:
            raise assume_role_error(exc, account) from exc
        except ClientError as exc:
            if is_unavailable(exc):
                raise
            raise GrantError(
                f"AWS refused to issue credentials for {broker} in {where(account)}: "
                f"{error_code(exc)}: {error_message(exc)}",
                error_code(exc) or "AssumeRoleFailed",
            ) from exc
        return TemporaryCredentials.from_sts(answer["Credentials"])

    def _message(
        self,
        request: AccessRequest,
        account: AccountConfig,
        credentials: TemporaryCredentials,
        link: str,
    ) -> str:
        until = credentials.expiration.strftime("%H:%M UTC")
        lines = [
            f":key: Your access for request `{request.id}` in *{request.account_name}* "
            f"({account.account_number}) is ready until {until}.",
            f"<{link}|Open the AWS console> (this link works once, within 15 minutes; "
            "do not share it).",
        ]
        if self._cli_credentials(account):
            lines.append(f"For the CLI:\n```\n{credentials.shell_exports()}\n```")
        return "\n".join(lines)
