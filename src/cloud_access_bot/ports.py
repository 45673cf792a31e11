"""The interfaces the service layer needs from its adapters (DynamoDB, IAM, Slack).

The service orchestrates; adapters implement these protocols at the edges, so the service can
be read without knowing Slack JSON or boto, and each adapter can be tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cloud_access_bot.config import AccountConfig
from cloud_access_bot.domain.model import (
    AccessRequest,
    AuditEvent,
    EventType,
    MessageRef,
    Status,
)


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


class GrantError(Exception):
    """A grant or revoke that AWS (or a pre-flight check) refused.

    ``message`` is written for people (requester and approvers); ``code`` is the AWS error code
    or a short machine tag such as ``CapacityExceeded``.
    """

    def __init__(self, message: str, code: str = "GrantError") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


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

    async def events(self, request_id: str) -> list[AuditEvent]: ...

    async def for_user(self, user_id: str, limit: int = 50) -> list[AccessRequest]:
        """The user's requests, newest first (user index)."""


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
        """Active Slack user ids in the named user groups (handles or names).

        ``fresh`` bypasses any cache: used to authorise a click at click time.
        """

    async def email_of(self, user_id: str) -> str | None: ...


class Notifier(Protocol):
    async def announce(self, request: AccessRequest) -> tuple[list[MessageRef], MessageRef | None]:
        """DM every approver and the requester about a new request; return the messages."""

    async def refresh(self, request: AccessRequest, event: EventType, actor: str) -> None:
        """Bring every message about ``request`` up to date and tell the requester what changed."""

    async def tell(self, user_id: str, text: str) -> None:
        """A short DM to one person (e.g. why their click changed nothing)."""

    async def ask_extension(self, request: AccessRequest) -> None:
        """Ask the approvers to decide on the extension the requester asked for."""

    async def remind(self, request: AccessRequest, approvers: Sequence[str]) -> None:
        """Nudge approvers about a request still waiting for them."""

    async def break_glass(self, request: AccessRequest, approver: str, reason: str) -> None:
        """Announce a self-approval loudly (audit channel, if one is configured)."""
