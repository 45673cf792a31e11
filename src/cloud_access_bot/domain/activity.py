"""What a grant was used for: CloudTrail events of its session, grouped by action (pure).

The requester's session name (their email) is theirs in every role of the account: their own
SSO role used for something else in the same window has it too. An event is the grant's only
when its session was issued by the role the grant was written for (``grant_role``,
``of_grant``), the same principal the grant's ``aws:userid`` condition binds.

A CloudTrail record names the call as ``eventSource`` (``s3.amazonaws.com``) and ``eventName``
(``GetObject``); the IAM action is the source's first label and the name (``s3:GetObject``).
That holds for the services the bot grants; a call CloudTrail logs under another source than
its IAM prefix is still listed, just never counted as using a granted action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from cloud_access_bot.domain.model import AccessRequest, parse_iso
from cloud_access_bot.domain.rules import IDENTITY_CENTER_MODES, AccessMode


@dataclass(frozen=True)
class TrailEvent:
    """One CloudTrail record, as far as activity needs it."""

    at: datetime
    source: str
    name: str
    session: str
    error_code: str = ""
    error_message: str = ""
    #: The name of the IAM role that issued the session (empty: not a role session).
    role: str = ""
    #: The account the session's principal is in.
    account: str = ""

    @property
    def action(self) -> str:
        return f"{self.source.split('.')[0]}:{self.name}"


def trail_event(record: Mapping[str, Any] | str) -> TrailEvent:
    """A CloudTrail record (the JSON CloudTrail writes, or LookupEvents' ``CloudTrailEvent``)."""
    data = json.loads(record) if isinstance(record, str) else record
    identity = data.get("userIdentity", {})
    arn = str(identity.get("arn", ""))
    assumed = identity.get("type") == "AssumedRole"
    session = arn.rsplit("/", 1)[-1] if assumed else ""
    return TrailEvent(
        at=parse_iso(str(data["eventTime"])),
        source=str(data["eventSource"]),
        name=str(data["eventName"]),
        session=session or str(identity.get("userName", "")),
        error_code=str(data.get("errorCode", "")),
        error_message=str(data.get("errorMessage", "")),
        role=_issuing_role(identity) if assumed else "",
        account=str(identity.get("accountId", "")),
    )


def _issuing_role(identity: Mapping[str, Any]) -> str:
    """The role name of an assumed-role session: ``sessionContext.sessionIssuer`` (its
    ``userName``, or the last part of its ``arn``: a path is not part of the name), else the
    middle of ``arn:aws:sts::<account>:assumed-role/<role>/<session>``."""
    issuer = identity.get("sessionContext", {}).get("sessionIssuer", {})
    if issuer.get("type") == "Role" and (name := issuer.get("userName") or issuer.get("arn")):
        return str(name).rsplit("/", 1)[-1]
    parts = str(identity.get("arn", "")).split(":", 5)[-1].split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "assumed-role" else ""


def sso_role_name(permission_set: str) -> re.Pattern[str]:
    """Names of the IAM Identity Center roles of permission set ``permission_set``."""
    return re.compile(rf"AWSReservedSSO_{re.escape(permission_set)}_[0-9a-fA-F]+")


def grant_role(
    request: AccessRequest, mode: AccessMode, broker_role: str | None
) -> re.Pattern[str]:
    """The names of the role whose sessions are the grant's: the login role the policy was
    written on (for ``managed_policy`` a permission set's ``AWSReservedSSO_<name>_<id>``
    too), the broker role (``session_credentials``, its ARN's last part), or the permission
    set's Identity Center role (a group's membership: any Identity Center role)."""
    if mode is AccessMode.SESSION_CREDENTIALS and broker_role:
        return re.compile(re.escape(broker_role.rsplit("/", 1)[-1]))
    if mode in IDENTITY_CENTER_MODES:
        if request.permission_set:
            return sso_role_name(request.permission_set)
        return re.compile(r"AWSReservedSSO_.+_[0-9a-fA-F]+")
    if mode is AccessMode.MANAGED_POLICY:
        return re.compile(
            f"{re.escape(request.login_role)}|{sso_role_name(request.login_role).pattern}"
        )
    return re.compile(re.escape(request.login_role))


def of_grant(event: TrailEvent, role: re.Pattern[str], account_id: str) -> bool:
    """Whether the event is a call of the grant's session: in its account, by a session of
    its role (``grant_role``). A session of another role, the requester's own SSO role for
    one, is not the grant's use even under the same session name."""
    return event.account == account_id and role.fullmatch(event.role) is not None


@dataclass
class ActionUse:
    action: str
    calls: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None


def in_scope(event: TrailEvent, *, start: datetime, end: datetime, services: Iterable[str]) -> bool:
    """Whether the session's event used the grant: inside its window, a granted service."""
    return start <= event.at <= end and event.action.split(":")[0] in set(services)


def by_action(events: Iterable[TrailEvent]) -> list[ActionUse]:
    """Calls, errors (by code) and first/last time per action, most called first."""
    uses: dict[str, ActionUse] = {}
    for event in sorted(events, key=lambda e: e.at):
        use = uses.setdefault(event.action, ActionUse(event.action, first=event.at))
        use.calls += 1
        use.last = event.at
        if event.error_code:
            use.errors[event.error_code] = use.errors.get(event.error_code, 0) + 1
    return sorted(uses.values(), key=lambda u: (-u.calls, u.action))


def unused(granted: Sequence[str], uses: Sequence[ActionUse]) -> list[str]:
    """Granted actions (patterns allowed: ``s3:Get*``) no successful call matched."""
    used = [u.action.lower() for u in uses if u.calls > sum(u.errors.values())]
    return [g for g in granted if not any(fnmatchcase(a, g.lower()) for a in used)]


def usage_line(granted: Sequence[str], uses: Sequence[ActionUse]) -> str:
    """``used 2 of 7 actions; never used s3:PutObject, …`` (the right-sizing summary)."""
    return right_sizing(granted, uses).summary


@dataclass(frozen=True)
class RightSizing:
    """What an ended grant gave against what its session used of it."""

    granted: tuple[str, ...]
    #: Granted actions (as granted, patterns too) some successful call used.
    used: tuple[str, ...]
    #: Granted actions no successful call used.
    unused: tuple[str, ...]
    #: The concrete actions of the successful calls a grant covered: the smaller set to ask
    #: for next time (a granted ``s3:Get*`` used only as ``s3:GetObject`` gives the latter).
    smaller: tuple[str, ...]

    @property
    def summary(self) -> str:
        line = f"used {len(self.used)} of {len(self.granted)} actions"
        return line + (f"; never used {', '.join(self.unused)}" if self.unused else "")

    def details(self) -> dict[str, Any]:
        """The USAGE_REVIEWED event's details."""
        return {
            "granted": list(self.granted),
            "used": list(self.used),
            "unused": list(self.unused),
            "smaller_set": list(self.smaller),
            "summary": self.summary,
        }


def right_sizing(granted: Sequence[str], uses: Sequence[ActionUse]) -> RightSizing:
    """Compare the granted actions with the grant's calls (see ``unused``)."""
    never = unused(granted, uses)
    succeeded = [u.action for u in uses if u.calls > sum(u.errors.values())]
    smaller = [a for a in succeeded if any(fnmatchcase(a.lower(), g.lower()) for g in granted)]
    return RightSizing(
        granted=tuple(granted),
        used=tuple(g for g in granted if g not in never),
        unused=tuple(never),
        smaller=tuple(sorted(dict.fromkeys(smaller))),
    )
