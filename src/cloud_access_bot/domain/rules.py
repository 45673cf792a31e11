"""The rules in force, as plain immutable values: what the domain decides with.

``config.BotConfig.rules_in_force()`` builds them from the parsed configuration, resolving every
per-account override against the global default, so the domain never sees YAML, pydantic or
the loaders behind them — and a rule judges one snapshot even if the configuration reloads
meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cloud_access_bot.domain.approvers import ApproverSpec


class AccessMode(StrEnum):
    """How an account's grants are written."""

    INLINE_POLICY = "inline_policy"
    MANAGED_POLICY = "managed_policy"
    SESSION_CREDENTIALS = "session_credentials"
    #: IAM Identity Center: assign an existing permission set to the user for the window.
    PERMISSION_SET = "permission_set"
    #: IAM Identity Center: add the user to a group for the window (the groups account only).
    GROUP_MEMBERSHIP = "group_membership"
    #: IAM Identity Center: a permission set made for the request, holding exactly its grant.
    REQUEST_PERMISSION_SET = "request_permission_set"


#: Modes granting through IAM Identity Center (no login role in the account).
IDENTITY_CENTER_MODES = frozenset(
    {AccessMode.PERMISSION_SET, AccessMode.GROUP_MEMBERSHIP, AccessMode.REQUEST_PERMISSION_SET}
)


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
class Limits:
    """Who approves, how many of them, for how long: an account's, or one of its permission
    sets' or groups' (their overrides, else the account's)."""

    approval_groups: tuple[str, ...]
    approvals_required: int
    max_duration_minutes: int
    #: The offered durations within ``max_duration_minutes``.
    durations: tuple[int, ...]
    #: Who may approve: ``approval_groups`` and ``approvers`` of the most specific level that
    #: names any (permission set or group, account, global), as entries.
    approvers: tuple[ApproverSpec, ...] = ()
    #: Who may approve when ``approvers`` resolves to nobody but the requester.
    fallback_approvers: tuple[ApproverSpec, ...] = ()
    #: Who is shown the card for information only (no buttons; their clicks never count).
    notify: tuple[ApproverSpec, ...] = ()


@dataclass(frozen=True)
class Route:
    """A rule of ``rules:`` that matches on what a request asks, kept for one account whose
    OU, tags and name it matched: ``domain.routing`` applies it to each request."""

    #: The rule's ``description`` (else ``rules.<index>``), shown on the approval card.
    label: str
    access_levels: tuple[str, ...] = ()
    #: Service prefixes (shell-style patterns, lower case).
    services: tuple[str, ...] = ()
    #: IAM action patterns.
    actions: tuple[str, ...] = ()
    #: Permission set or group names (shell-style patterns).
    permission_sets: tuple[str, ...] = ()
    approvals_required: int | None = None
    approval_groups: tuple[str, ...] | None = None
    max_duration_minutes: int | None = None
    auto_approve: bool = False
    #: With ``auto_approve``: only when every resource was picked from discovery.
    discovered_only: bool = False


@dataclass(frozen=True)
class AccountRules:
    """One account's effective settings (its overrides, else the global defaults)."""

    name: str
    account_number: str
    iam_role: str
    access_mode: AccessMode
    #: Empty for IAM Identity Center accounts: people sign in with the permission set.
    login_roles: tuple[str, ...]
    regions: tuple[str, ...]
    limits: Limits
    #: What may be asked for by name, with its limits: the permission sets (permission_set
    #: mode) or the groups (the groups account); empty for other modes.
    targets: Mapping[str, Limits]
    production: bool
    allow_escalation: bool
    allowed_dangerous_actions: tuple[str, ...]
    #: The channel (id or ``#name``) the approval card is posted to, with buttons.
    approval_channel: str | None = None
    #: Whether each approver also gets the card in a DM.
    approval_dms: bool = True
    #: The rules matching on what is asked that cover this account, in file order.
    routes: tuple[Route, ...] = ()

    def limits_for(self, target: str | None) -> Limits:
        """The limits of the permission set or group ``target`` (None or not offered: the
        account's)."""
        return self.targets.get(target, self.limits) if target else self.limits


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
