"""The interfaces the service layer and the listeners need from their adapters (DynamoDB,
IAM, Slack, resource discovery).

The service orchestrates; adapters implement these protocols at the edges, so the service can
be read without knowing Slack JSON or boto, and each adapter can be tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain.accounts import OrgSnapshot
from cloud_access_bot.domain.activity import RightSizing
from cloud_access_bot.domain.approvers import ApproverSpec
from cloud_access_bot.domain.model import (
    AccessRequest,
    AuditEvent,
    EventType,
    MessageRef,
    Status,
)
from cloud_access_bot.domain.people import Person
from cloud_access_bot.domain.resources import DiscoveryResult


class ConflictError(Exception):
    """A conditional write lost: someone else changed the request first.

    ``current`` is the request as stored now (None if it does not exist).
    """

    def __init__(self, current: AccessRequest | None) -> None:
        self.current = current
        super().__init__(
            f"request changed concurrently (now {current.status if current else 'missing'})"
        )


class StoreUnavailable(Exception):
    """DynamoDB could not be reached or refused the call: nothing was written; retry later."""


class GrantUnavailable(Exception):
    """AWS could not take a grant or a removal right now (throttling or an outage outlasting
    the SDK's retries, or another replica holding the document's lease). Nothing was refused:
    the request keeps its status and the sweeper tries again."""


class DirectoryUnavailable(Exception):
    """The workspace cannot say who approves (e.g. a free Slack plan has no user groups);
    the message says so in words for the requester and the operator."""


class TrailUnavailable(Exception):
    """CloudTrail could not be read (throttled, denied, unreachable): the text says why and
    names the permission; nothing was recorded, so the question can be asked again."""


class GrantError(Exception):
    """A grant or revoke that AWS (or a pre-flight check) refused.

    ``message`` is written for people (requester and approvers); ``code`` is the AWS error code
    or a short machine tag such as ``CapacityExceeded``.
    """

    def __init__(self, message: str, code: str = "GrantError") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class StoredRequest:
    """A request and its item's attributes exactly as stored, for tamper checks, with what the
    store derives from the request's own fields: the index keys it should carry and the digests
    of the attributes the seals cover."""

    request: AccessRequest
    attributes: dict[str, Any]
    expected_index_keys: dict[str, str]
    index_key_names: frozenset[str]
    sealed_digests: dict[str, str]


class Store(Protocol):
    async def ensure_table(self) -> None:
        """Create the table and its indexes if missing (only when config has create_table)."""

    async def create(
        self, request: AccessRequest, actor: str, details: dict[str, Any]
    ) -> AccessRequest:
        """Store a new request (version 1) with its REQUESTED event, atomically.

        Raises ConflictError if the id exists.
        """

    async def get(self, request_id: str) -> AccessRequest | None: ...

    async def get_many(self, request_ids: Sequence[str]) -> list[AccessRequest]:
        """Those of the requests that exist, in the order asked, read consistently."""

    async def commit(
        self,
        current: AccessRequest,
        updated: AccessRequest,
        event_type: EventType,
        actor: str,
        details: dict[str, Any],
    ) -> AccessRequest:
        """Write ``updated`` (version + 1) and its audit event in one transaction.

        The write is conditional on the stored item still being ``current`` (same version and
        status); otherwise ConflictError with the stored request. Returns what was written.
        """

    async def set_messages(
        self, request_id: str, messages: Sequence[MessageRef], requester_message: MessageRef | None
    ) -> None:
        """Remember the Slack messages that show this request (not a transition, no event)."""

    async def due(self, status: Status, before: datetime, limit: int = 100) -> list[AccessRequest]:
        """Requests in ``status`` whose due time (timeout, approval, expiry) is before ``before``.

        Uses the sparse due index, never a table scan.
        """

    async def due_reviews(self, before: datetime, limit: int = 100) -> list[AccessRequest]:
        """Ended grants whose usage review is due before ``before`` (the due index)."""

    async def pending(self, limit: int = 500) -> list[AccessRequest]:
        """Every pending request (at most ``limit``), whatever its due time, from the due index."""

    async def events(self, request_id: str) -> list[AuditEvent]: ...

    async def for_user(self, user_id: str, limit: int = 50) -> list[AccessRequest]:
        """The user's requests, newest first (user index)."""

    async def created_between(
        self,
        since: datetime,
        until: datetime,
        *,
        user_id: str | None = None,
        account_id: str | None = None,
    ) -> list[AccessRequest]:
        """Requests created within [since, until], oldest first, optionally one user's or one
        account's (for audit queries)."""

    async def all_requests(self) -> list[AccessRequest]:
        """Every request (a full scan: only for verifying the whole audit trail)."""


class AuditStore(Store, Protocol):
    """What ``audit verify`` reads beyond the Store: items as stored, and the day anchors."""

    async def get_stored(self, request_id: str) -> StoredRequest | None: ...

    async def anchored(self, since: datetime | None, until: datetime) -> dict[str, str]:
        """Request ids the day anchors list from the day of ``since`` to the day of ``until``
        (every anchor when ``since`` is None), each with its day (``yyyy-mm-dd``)."""


@dataclass(frozen=True)
class GrantResult:
    policy_name: str
    policy_document: dict[str, Any]


class Granter(Protocol):
    async def grant(
        self, request: AccessRequest, account: AccountConfig, start: datetime, end: datetime
    ) -> GrantResult:
        """Put the time-bounded policy in place; raise GrantError with a readable reason."""

    async def revoke(self, request: AccessRequest, account: AccountConfig) -> bool:
        """Remove what ``grant`` wrote; idempotent. Returns False if it was already gone."""


@dataclass(frozen=True)
class TargetOffer:
    """A permission set or group a requester may pick, as IAM Identity Center describes it."""

    name: str
    description: str = ""


class IdentityCenterDirectory(Protocol):
    """What the modal and submit need from IAM Identity Center."""

    async def offers(self, account: AccountConfig) -> list[TargetOffer]:
        """The account's configured permission sets that exist in Identity Center (for the
        groups account: the configured groups)."""

    async def has_user(self, email: str) -> bool:
        """Whether an Identity Center user matches this email (see ``user_match``)."""


class Directory(Protocol):
    async def members_of(self, groups: Sequence[str], *, fresh: bool = False) -> list[str]:
        """Active Slack user ids in the configured user groups (ids or exact handles).

        ``fresh`` re-reads membership: used to authorise a click at click time. Raises
        DirectoryUnavailable when the workspace has no user groups at all.
        """

    async def email_of(self, user_id: str) -> str | None: ...

    async def is_active(self, user_id: str) -> bool:
        """Whether the person is an active member of the workspace now (read fresh): False once
        deactivated, or when Slack cannot say."""

    async def person(self, user_id: str) -> Person | None:
        """Who ``user_id`` is for eligibility (None: Slack does not know them)."""

    async def resolve(self, specs: Sequence[ApproverSpec], *, fresh: bool = False) -> list[str]:
        """The active people the approver entries name (user ids, emails, groups, channel
        members), each once. ``fresh`` re-reads memberships: how a click is authorised.
        Raises DirectoryUnavailable as ``members_of`` does."""

    async def channel_id(self, channel: str, *, fresh: bool = False) -> str | None:
        """The id of a channel named by id or ``#name`` that the bot can see, else None."""


@dataclass(frozen=True)
class Audience:
    """Where a new request's card goes besides the approvers' DMs, resolved at submission:
    the approval channel (with buttons), and who sees it for information only."""

    #: Whether the approvers get the card by DM.
    dms: bool = True
    #: The approval channel's id: the card with its buttons, and a threaded reply per step.
    channel: str | None = None
    #: People who get the card by DM without buttons (not approvers of the request).
    notified: tuple[str, ...] = ()
    #: Channels that get the card without buttons.
    notified_channels: tuple[str, ...] = ()
    #: More approval channels, as ``channel`` (a batch over accounts with different ones).
    channels: tuple[str, ...] = ()


#: The approvers' DMs only: no approval channel, nobody notified.
DMS_ONLY = Audience()


class Notifier(Protocol):
    async def announce(
        self, request: AccessRequest, audience: Audience = DMS_ONLY
    ) -> tuple[list[MessageRef], MessageRef | None]:
        """Tell every approver (by DM, and in the approval channel when there is one), the
        people notified and the requester about a new request; return the messages."""

    async def announce_to_requester(self, request: AccessRequest) -> MessageRef | None:
        """Only the requester's message about a new request (nobody is asked to decide it)."""

    async def refresh(self, request: AccessRequest, event: EventType, actor: str) -> None:
        """Bring every message about ``request`` up to date and tell the requester what changed."""

    async def tell(self, user_id: str, text: str) -> None:
        """A short DM to one person (e.g. why their click changed nothing)."""

    async def ask_extension(self, request: AccessRequest, audience: Audience = DMS_ONLY) -> None:
        """Ask the approvers to decide on the extension the requester asked for, where the
        approval card went (``audience``: the approval channel and whether approvers get DMs)."""

    async def remind(self, request: AccessRequest, approvers: Sequence[str]) -> None:
        """Nudge approvers about a request still waiting for them."""

    async def break_glass(self, request: AccessRequest, approver: str, reason: str) -> None:
        """Announce a self-approval loudly (audit channel, if one is configured)."""

    async def usage_reviewed(self, request: AccessRequest, review: RightSizing) -> None:
        """Tell the requester what their ended grant used of what it gave."""


class BatchNotifier(Notifier, Protocol):
    """The one approval card of a request over several accounts (service_batch)."""

    async def announce_batch(
        self, requests: Sequence[AccessRequest], audience: Audience = DMS_ONLY
    ) -> tuple[list[MessageRef], list[MessageRef | None]]:
        """DM one card for all of ``requests`` (the first is the batch's) to every approver of
        any of them, and the requester one message per account; return the card's messages
        and the requester's message of each request, in order."""

    async def refresh_batch(self, requests: Sequence[AccessRequest]) -> None:
        """Bring the batch's card up to date with the status of every one of its requests."""


class Discovery(Protocol):
    async def discover(
        self,
        accounts: Sequence[tuple[str, str]],
        regions: Sequence[str],
        services: Sequence[str],
        *,
        refresh: bool = False,
        wait_seconds: float | None = None,
    ) -> DiscoveryResult:
        """Resources of every (account, region, service); ``accounts`` holds
        ``(account_id, role_arn)`` pairs. ``refresh`` lists again instead of trusting a cache;
        units not done after ``wait_seconds`` come back as failures."""


class Metrics(Protocol):
    """What the bot measures, in its own terms; an adapter turns it into metric lines
    (CloudWatch EMF, Prometheus). docs/metrics.md names every metric each call produces."""

    def recorded(self, event: EventType, request: AccessRequest, at: datetime) -> None:
        """A lifecycle event of ``request`` was stored at ``at``."""

    def swept(self, seconds: float, *, ok: bool) -> None:
        """One sweep ran for ``seconds``; ``ok`` unless it raised."""

    def slack_failed(self, method: str, error: str) -> None:
        """A Web API call answered an error (``ratelimited`` for an HTTP 429)."""

    def acked(self, milliseconds: float) -> None:
        """A Socket Mode envelope was acked this long after it arrived."""

    def delivered(self, destination: str, *, delivered: int, failed: int) -> None:
        """Outbox events sent to ``destination`` (archive, event_bus), and how many failed."""


class AccountDirectory(Protocol):
    async def snapshot(
        self, previous: OrgSnapshot | None = None, *, all_tags: bool = False
    ) -> OrgSnapshot:
        """Every ACTIVE account of the organisation with its OU path and tags; raises if the
        listing could not be completed (a partial list is never returned). Tags are read again
        only for the accounts ``previous`` has none for and a stale share of the others, unless
        ``all_tags``; a tag read that fails keeps the account's ``previous`` tags."""
