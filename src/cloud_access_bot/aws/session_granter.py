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
- STS cannot end an issued session early. Where the account sets ``revoke_cuts_off_session``
  (off by default: it needs the bot to write on the broker role), revoking writes a *deny* on
  the broker role, an
  inline policy ``cloud-access-bot-revoked-<request id>`` refusing every call of that session
  (``aws:userid`` = the broker role's RoleId and the session name, ``aws:TokenIssueTime``
  before the revocation, so a later grant's new session is not caught) until the grant's
  window ends; the bot deletes such denies once their window has passed, at the next removal
  (revocation or expiry) of a session grant in that account; until then a passed deny is
  inert (its own time condition). An expired grant needs no deny: its session policy's window
  is over. A broker role that no longer exists has no session left to cut off. Where the
  deployment does not let the bot write on the broker role (AccessDenied), the grant still
  ends and everyone is told its session stays usable until its window ends;
- session policies are limited to 2,048 characters: larger grants are refused.

The credentials and the link are handed to ``deliver`` and then forgotten: never logged, never
stored. The GrantResult carries only the session policy (what the audit trail records).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

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
from cloud_access_bot.domain.model import AccessRequest, iso, parse_iso, utcnow
from cloud_access_bot.domain.policy import policy_json
from cloud_access_bot.ports import GrantError, GrantResult

log = logging.getLogger(__name__)
#: Error codes of a deployment that does not let the bot write on the broker role.
DENIED = ("AccessDenied", "AccessDeniedException")

#: STS's limit on a session policy's plaintext.
SESSION_POLICY_LIMIT = 2048
#: STS's shortest session, and the longest one when the caller is itself an assumed role.
MIN_SESSION_SECONDS = 900
ROLE_CHAINED_MAX_SECONDS = 3600
#: The condition a login-role policy uses to single out the requester's session.
USERID_CONDITION = "StringEqualsIgnoreCase"
_NOT_SESSION_NAME = re.compile(r"[^\w+=,.@-]")
#: Inline policies on the broker role denying a revoked session: this prefix + request id.
REVOKED_PREFIX = "cloud-access-bot-revoked-"

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


def revoked_session_policy(
    broker_role_id: str, session: str, revoked_at: datetime, until: datetime
) -> dict[str, Any]:
    """A deny of every call made with the broker role's session ``session`` issued before
    ``revoked_at``, while ``until`` has not passed (then it is inert, and deleted)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RevokedSession",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:userid": f"{broker_role_id}:{session}"},
                    "DateLessThan": {
                        "aws:TokenIssueTime": iso(revoked_at),
                        "aws:CurrentTime": iso(until),
                    },
                },
            }
        ],
    }


def deny_until(document: Mapping[str, Any]) -> datetime | None:
    """When a revoked-session deny stops applying (None if it does not look like one)."""
    try:
        statement = document["Statement"][0]
        return parse_iso(statement["Condition"]["DateLessThan"]["aws:CurrentTime"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def refusal(exc: ClientError, account: AccountConfig, what: str, code: str) -> Exception:
    """A GrantError saying AWS refused ``what``; an outage or throttling is re-raised as is
    (the caller tries again later)."""
    if is_unavailable(exc):
        return exc
    return GrantError(
        f"AWS refused to {what} in {where(account)}: {error_code(exc)}: {error_message(exc)}",
        error_code(exc) or code,
    )


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
        broker = self._broker(account)
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
        """Cut the issued session off with a deny on the broker role until the grant's window
        ends (see the module doc); True when a deny was written, False when it was not: the
        window is over, the broker role is gone, or the bot may not write on it (the caller
        records that the session lives on until its window ends)."""
        if not account.revoke_cuts_off_session:
            return False
        broker = self._broker(account)
        now = self._clock()
        until = request.expires_at
        live = until is not None and until > now
        role = broker.rsplit("/", 1)[-1]
        written: list[str] = []

        async def deny(iam: Any) -> None:
            try:
                await self._drop_passed_denies(broker)(iam)
            except ClientError as exc:
                if is_unavailable(exc):
                    raise
                # Tidying only (a passed deny is inert): never what holds an expiry back.
                log.warning("revoked-session denies on %s not tidied: %s", broker, error_code(exc))
            if not live or until is None:
                return
            try:
                role_id = str((await iam.get_role(RoleName=role))["Role"]["RoleId"])
            except ClientError as exc:
                if error_code(exc) in ("NoSuchEntity", *DENIED):
                    return  # the role is gone (and its sessions), or may not be read
                raise
            document = revoked_session_policy(
                role_id, session_name(request.requester_email), now, until
            )
            try:
                await iam.put_role_policy(
                    RoleName=role,
                    PolicyName=f"{REVOKED_PREFIX}{request.id}",
                    PolicyDocument=policy_json(document),
                )
            except ClientError as exc:
                if error_code(exc) not in DENIED:
                    raise
                # The deployment forbids it: the grant still ends, and says its session lives on.
                log.warning("revoked session of %s not cut off: %s", request.id, error_code(exc))
                return
            written.append(role)

        await self._in_broker_account(account, deny)
        return bool(written)

    def _broker(self, account: AccountConfig) -> str:
        if not account.broker_role:
            raise GrantError(f"No broker_role is configured for {where(account)}.", "NoBrokerRole")
        return account.broker_role

    def _drop_passed_denies(self, broker: str) -> Callable[[Any], Awaitable[None]]:
        """Delete the broker role's revoked-session denies whose window has passed."""
        role = broker.rsplit("/", 1)[-1]

        async def drop(iam: Any) -> None:
            names = (await iam.list_role_policies(RoleName=role))["PolicyNames"]
            for name in (n for n in names if n.startswith(REVOKED_PREFIX)):
                answer = await iam.get_role_policy(RoleName=role, PolicyName=name)
                document = answer["PolicyDocument"]
                if isinstance(document, str):
                    document = json.loads(unquote(document))
                until = deny_until(document)
                if until is not None and until <= self._clock():
                    await iam.delete_role_policy(RoleName=role, PolicyName=name)

        return drop

    async def _in_broker_account(
        self, account: AccountConfig, work: Callable[[Any], Awaitable[None]]
    ) -> None:
        try:
            await self._clients.with_assumed("iam", account.iam_role, work)
        except AssumeRoleError as exc:
            raise assume_role_error(exc, account) from exc
        except ClientError as exc:
            what = (
                f"write the deny that cuts off the revoked session on broker role "
                f"{account.broker_role} (the bot's role needs iam:GetRole, iam:ListRolePolicies, "
                "iam:GetRolePolicy, iam:PutRolePolicy and iam:DeleteRolePolicy on it)"
            )
            raise refusal(exc, account, what, "BrokerRoleChange") from exc

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
            what = f"issue credentials for {broker}"
            raise refusal(exc, account, what, "AssumeRoleFailed") from exc
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
