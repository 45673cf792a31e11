"""What "write access" means for the audit: one definition, for the CLI and the archive.

A grant gave write access when any of its actions is at an IAM access level that changes
something: ``Write``, ``Permissions management`` or ``Tagging`` (tags drive ABAC and cost
allocation, so changing them is a change). ``List`` and ``Read`` do not. The levels are the
ones recorded on the request at submission (``AccessRequest.access_levels``, from the service
catalog; a wildcard counts at the most privileged level it covers), so the answer does not move
when the catalog is updated later. What the bot cannot classify counts as write: an action the
catalog did not know (``Unknown``), and a grant whose actions are not in the request at all (a
permission set or group, whose policies live in IAM Identity Center, or a request written
before levels were recorded).
"""

from __future__ import annotations

from cloud_access_bot.domain.listing import UNKNOWN_LEVEL
from cloud_access_bot.domain.model import AccessRequest

#: The access levels that make a grant "write access" (docs/audit.md, "Answering an auditor").
WRITE_LEVELS: tuple[str, ...] = ("Write", "Permissions management", "Tagging", UNKNOWN_LEVEL)


def granted_levels(request: AccessRequest) -> list[str]:
    """The access levels of the request's actions, sorted (``Unknown`` when none are known)."""
    levels = {level for counts in request.access_levels.values() for level in counts}
    return sorted(levels) if levels else [UNKNOWN_LEVEL]


def gives_write(request: AccessRequest) -> bool:
    """Whether the grant could change something in the account (see the module's docstring)."""
    return any(level in WRITE_LEVELS for level in granted_levels(request))
