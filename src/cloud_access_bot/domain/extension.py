"""What an extension of active access changes on its request, step by step.

The requester asks (``asked``), approvers add their approvals (``approved_by``) until the
request is extended in place (``extended``: same policy, later end) or one refuses
(``cleared``). Who may do each step is ``approval.decide_extension`` and
``approval.decide_extension_approval``.
"""

from __future__ import annotations

from datetime import timedelta

from cloud_access_bot.domain.model import AccessRequest


def asked(request: AccessRequest, minutes: int) -> AccessRequest:
    """The request with an extension by ``minutes`` waiting, no approval recorded yet."""
    return request.with_changes(pending_extension=minutes, extension_approvals=())


def approved_by(request: AccessRequest, approver: str) -> AccessRequest:
    """The request with one more approval of the waiting extension."""
    return request.with_changes(extension_approvals=(*request.extension_approvals, approver))


def cleared(request: AccessRequest) -> AccessRequest:
    """The request with no extension waiting (refused, or written)."""
    return request.with_changes(pending_extension=0, extension_approvals=())


def extended(request: AccessRequest, minutes: int) -> AccessRequest:
    """The active request ``minutes`` longer: a later end, the added time counted in
    ``duration_minutes`` (which the account's maximum bounds), nothing waiting any more."""
    assert request.expires_at is not None
    return cleared(request).with_changes(
        expires_at=request.expires_at + timedelta(minutes=minutes),
        duration_minutes=request.duration_minutes + minutes,
    )
