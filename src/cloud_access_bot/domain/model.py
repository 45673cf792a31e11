"""The access request, its lifecycle and its audit events (immutable values)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    FAILED = "FAILED"


#: Allowed transitions: the service refuses any other status change, and every write is
#: conditional on the stored version and status, so concurrent deciders cannot both win.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.APPROVED, Status.DENIED, Status.CANCELLED, Status.TIMED_OUT}),
    # CANCELLED/REVOKED: a scheduled request before its start (nothing is granted yet).
    Status.APPROVED: frozenset({Status.ACTIVE, Status.FAILED, Status.CANCELLED, Status.REVOKED}),
    Status.ACTIVE: frozenset({Status.EXPIRED, Status.REVOKED, Status.FAILED}),
}

TERMINAL: frozenset[Status] = frozenset(s for s in Status if s not in TRANSITIONS)


def can_transition(current: Status, new: Status) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


class EventType(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVAL_ADDED = "APPROVAL_ADDED"
    APPROVED = "APPROVED"
    AUTO_APPROVED = "AUTO_APPROVED"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    GRANTED = "GRANTED"
    GRANT_FAILED = "GRANT_FAILED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    EXTENSION_REQUESTED = "EXTENSION_REQUESTED"
    EXTENSION_APPROVAL_ADDED = "EXTENSION_APPROVAL_ADDED"
    EXTENSION_DENIED = "EXTENSION_DENIED"
    EXTENDED = "EXTENDED"
    RECONCILED = "RECONCILED"
    REMINDED = "REMINDED"
    #: What an ended grant's session used of it, read from CloudTrail some minutes after the
    #: end (CloudTrail's delivery delay); details: granted, used and unused actions.
    USAGE_REVIEWED = "USAGE_REVIEWED"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z``, second precision (what IAM date conditions expect)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


REQUEST_ID = re.compile(r"^[0-9a-f]{12}$")
#: The audit detail of an ended session_credentials grant saying whether its issued session
#: was cut off (``AccessRequest.session_cut_off``).
SESSION_CUT_OFF = "session_cut_off"


@dataclass(frozen=True)
class ServiceAccess:
    """What one request asks of one AWS service: IAM actions and the resources they target.

    ``actions`` are full action names (``s3:GetObject``); ``resources`` are the ARNs the
    requester chose (a bucket, a table…) or ``"*"``; the policy builder maps each action to the
    ARN forms it really applies to.
    """

    service: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "actions": list(self.actions),
            "resources": list(self.resources),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceAccess:
        return cls(
            service=str(data["service"]),
            actions=tuple(str(a) for a in data["actions"]),
            resources=tuple(str(r) for r in data["resources"]),
        )


@dataclass(frozen=True)
class MessageRef:
    """A Slack message the bot posted and keeps up to date (an approver's DM, say)."""

    channel: str
    ts: str
    user: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "ts": self.ts, "user": self.user}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessageRef:
        return cls(channel=str(data["channel"]), ts=str(data["ts"]), user=str(data.get("user", "")))


@dataclass(frozen=True)
class RecordedAccount:
    """What a request records of its account at submission, so that removal, extension and
    activation act on the account and role that were approved, whatever the account's name
    means later (renamed, reused, gone from the configuration). None: not recorded."""

    iam_role: str | None = None
    access_mode: str | None = None
    managed_policy_name: str | None = None
    managed_policy_path: str | None = None
    broker_role: str | None = None
    revoke_cuts_off_session: bool | None = None

    def recorded(self) -> dict[str, str | bool]:
        """The recorded settings by name, leaving out what was not recorded."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass(frozen=True)
class AccessRequest:
    """One request for access, as stored. ``version`` counts the transitions applied."""

    id: str
    requester_id: str
    requester_email: str
    account_name: str
    account_id: str
    login_role: str
    reason: str
    duration_minutes: int
    services: tuple[ServiceAccess, ...]
    created_at: datetime
    status: Status = Status.PENDING
    version: int = 1
    approvers: tuple[str, ...] = ()
    approvals: tuple[str, ...] = ()
    approvals_required: int = 1
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    timeout_at: datetime | None = None
    next_reminder_at: datetime | None = None
    policy_name: str | None = None
    policy_document: str | None = None
    failure_reason: str | None = None
    messages: tuple[MessageRef, ...] = ()
    requester_message: MessageRef | None = None
    last_event_hash: str = ""
    #: access_mode permission_set: the permission set asked for (``services`` is then empty).
    permission_set: str | None = None
    #: A request to join an IAM Identity Center group (account ``identity-center-groups``).
    group: str | None = None
    recorded_account: RecordedAccount = RecordedAccount()
    #: Per service, how many of its actions fall in each access level, at submission.
    access_levels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: Minutes of extension asked for and not yet decided (0 when none).
    pending_extension: int = 0
    #: Approvals recorded for the extension waiting now.
    extension_approvals: tuple[str, ...] = ()
    #: For an ended session_credentials grant: whether its issued session was cut off (a deny
    #: on the broker role) or stays usable until its window ends; None otherwise.
    session_cut_off: bool | None = None
    #: The ticket or change id the account's rules asked for (None when none was required).
    ticket: str | None = None
    #: The account's warning banner at submission (production, or a rule's ``warning``).
    warning: str | None = None
    #: When the requester asked the access to start (None: as soon as it is approved); the
    #: window itself is fixed at approval (``domain.schedule.window``).
    scheduled_start: datetime | None = None
    #: When an ended grant's use is to be read from CloudTrail (None: no review waiting).
    usage_review_at: datetime | None = None
    #: The rules on what is asked that applied at submission, each "<rule>: <what it requires>"
    #: (``domain.routing``), shown on the approval card.
    routing_rules: tuple[str, ...] = ()

    #: A request over several accounts is stored as one request per account, linked by the
    #: ids of all of them in order (this one included; the first is the batch's id). Empty
    #: for a request in one account.
    batch: tuple[str, ...] = ()

    @property
    def batch_id(self) -> str | None:
        """The id of the batch this request belongs to (its first request's), else None."""
        return self.batch[0] if self.batch else None

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def target(self) -> str | None:
        """The permission set or group asked for (None: a request for services)."""
        return self.permission_set or self.group

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(a for s in self.services for a in s.actions)

    def with_changes(self, **changes: Any) -> AccessRequest:
        return replace(self, **changes)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The grant window when approved at ``now``: from now for ``duration_minutes``."""
        start = now.replace(microsecond=0)
        return start, start + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True)
class AuditEvent:
    """An immutable record of one step of a request's life."""

    request_id: str
    seq: int
    type: EventType
    actor: str
    at: datetime
    status: Status
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""
    #: Digests of the request attributes this step wrote (None: removed); see domain.audit.
    sealed: dict[str, str | None] = field(default_factory=dict)
