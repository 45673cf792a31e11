"""The rules in force, as plain immutable values: what the domain decides with.

``config.BotConfig.rules()`` builds them from the parsed configuration, resolving every
per-account override against the global default, so the domain never sees YAML, pydantic or
the loaders behind them — and a rule judges one snapshot even if the configuration reloads
meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class SelfApproval(StrEnum):
    """Whether a requester may approve their own request."""

    DENY = "deny"
    BREAK_GLASS = "break_glass"


@dataclass(frozen=True)
class AutoApproveRule:
    """Requests matching every clause are approved without a human (and still audited)."""

    #: Account names the rule covers; empty means every non-production account.
    accounts: tuple[str, ...]
    access_levels: tuple[str, ...]
    max_duration_minutes: int
    #: Only requests whose resources were all picked from discovery match.
    discovered_only: bool


@dataclass(frozen=True)
class AccountRules:
    """One account's effective settings (its overrides, else the global defaults)."""

    name: str
    account_number: str
    iam_role: str
    login_roles: tuple[str, ...]
    regions: tuple[str, ...]
    approval_groups: tuple[str, ...]
    approvals_required: int
    max_duration_minutes: int
    #: The offered durations within ``max_duration_minutes``.
    durations: tuple[int, ...]
    production: bool
    allow_escalation: bool
    allowed_dangerous_actions: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    """Every account's rules and the workspace-wide policy."""

    accounts: Mapping[str, AccountRules]
    never_grantable_actions: tuple[str, ...]
    deny_permissions_management: bool
    allow_wildcard_resources: bool
    self_approval: SelfApproval
    auto_approve: tuple[AutoApproveRule, ...]

    def account(self, name: str) -> AccountRules | None:
        """The account's rules; None when it is not (or no longer) configured."""
        return self.accounts.get(name)
