"""Rules for IAM Identity Center requests: which permission set or group, for how long (pure)."""

from __future__ import annotations

import math
import re
from datetime import datetime

from cloud_access_bot.domain.model import AccessRequest, iso
from cloud_access_bot.domain.rules import IDENTITY_CENTER_MODES, AccessMode, Rules


def target_problems(
    rules: Rules,
    account_name: str,
    *,
    permission_set: str | None,
    group: str | None,
    minutes: int,
) -> dict[str, str]:
    """Problems with a request for a permission set or a group in the account, by field.

    The account's mode decides which of the two it may ask for; the other must be absent.
    """
    account = rules.account(account_name)
    if account is None:
        return {"account": f"Unknown account {account_name!r}: pick one from the list."}
    if account.access_mode is AccessMode.PERMISSION_SET and group is None:
        target, what = permission_set, "permission set"
    elif account.access_mode is AccessMode.GROUP_MEMBERSHIP and permission_set is None:
        target, what = group, "group"
    else:
        return {"account": f"{account_name} does not grant what was asked for."}
    offered = offered_targets(rules, account_name)
    if target not in offered:
        return {
            "permission_set": f"{target!r} is not a {what} offered in {account_name}; "
            f"choose one of {', '.join(offered)}."
        }
    limits = account.limits_for(target)
    cap, offered_minutes = limits.max_duration_minutes, limits.durations
    if minutes > cap:
        return {
            "duration": f"{minutes} minutes is longer than the {cap}-minute maximum for "
            f"{target} in {account_name}."
        }
    if minutes not in offered_minutes:
        listed = ", ".join(str(m) for m in offered_minutes)
        return {"duration": f"{minutes} minutes is not an offered duration ({listed} minutes)."}
    return {}


def offered_targets(rules: Rules, account_name: str) -> list[str]:
    """The permission sets (permission_set mode) or groups (the groups account) that may be
    asked for in the account now; empty for other modes."""
    account = rules.account(account_name)
    return list(account.targets) if account else []


def needs_identity_center_user(rules: Rules, account_name: str) -> bool:
    """Whether a grant in the account goes to the requester's Identity Center user."""
    account = rules.account(account_name)
    return account is not None and account.access_mode in IDENTITY_CENTER_MODES


def makes_own_role(rules: Rules, account_name: str) -> bool:
    """Whether the account's grants are permission sets made per request (no login role)."""
    account = rules.account(account_name)
    return account is not None and account.access_mode is AccessMode.REQUEST_PERMISSION_SET


def no_identity_center_user(email: str) -> str:
    """What a requester without an Identity Center user is told (at submit and at grant)."""
    return (
        f"No IAM Identity Center user matches your Slack email ({email}): ask an Identity "
        "Center administrator to create one or to set this email on yours."
    )


#: The prefix of the permission sets the bot makes, one per request (``CAB-<request id>``).
REQUEST_SET_PREFIX = "CAB-"
#: Identity Center's bounds on a permission set's session duration, in minutes.
MIN_SESSION_MINUTES, MAX_SESSION_MINUTES = 60, 720
_DESCRIPTION_CHARS = re.compile(r"[^\t\n\r\x20-\x7e\xa1-\xff]")


def request_set_name(request_id: str) -> str:
    """``CAB-<request id>``: 16 characters, within Identity Center's 32."""
    return f"{REQUEST_SET_PREFIX}{request_id}"


def request_set_description(request: AccessRequest, end: datetime) -> str:
    """The request id, who asked, the ticket (when the account requires one) and until when,
    in the characters (and 700-character length) Identity Center accepts for a description.
    Never the reason: it is the requester's free text, and the description is read by anyone
    who may list permission sets."""
    ticket = f", ticket {request.ticket}" if request.ticket else ""
    text = (
        f"cloud-access-bot request {request.id} for {request.requester_email}{ticket} until "
        f"{iso(end)}"
    )
    return _DESCRIPTION_CHARS.sub("?", text)[:700]


def session_duration(now: datetime, end: datetime) -> str:
    """The permission set's SessionDuration (ISO 8601) for a grant ending at ``end``: what is
    left of it, rounded up to the minute, within Identity Center's 1 to 12 hours. A session
    may outlast a grant shorter than an hour by up to that hour; the inline policy's
    ``DateLessThan`` window still ends what it allows on time."""
    left = math.ceil((end - now).total_seconds() / 60)
    minutes = max(MIN_SESSION_MINUTES, min(MAX_SESSION_MINUTES, left))
    hours, rest = divmod(minutes, 60)
    return f"PT{hours}H{rest}M" if rest else f"PT{hours}H"


def revoked_session_note(request: AccessRequest) -> str | None:
    """What a revocation leaves of an Identity Center grant's sessions, for the revoke DM
    (None for the other modes): removing an assignment or membership ends no role session
    already issued through the access portal."""
    mode = request.recorded_account.access_mode
    kept = "a console or CLI session already opened from the AWS access portal is not ended"
    if mode == AccessMode.REQUEST_PERMISSION_SET.value:
        until = f" at {iso(request.expires_at)}" if request.expires_at else ""
        return (
            f"The permission set made for it is removed, but {kept}: it stays signed in up to "
            f"its session duration, and what it may do ends{until} at the latest, the end of "
            "the approved window."
        )
    if request.target is None:
        return None
    what = "group membership" if request.group else "permission set assignment"
    return (
        f"The {what} is removed, but {kept}: it lasts until its own expiry, up to the "
        "permission set's session duration (1 to 12 hours)."
    )
