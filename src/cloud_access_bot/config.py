"""The YAML configuration: schema, perkbox compatibility and error reporting.

perkbox's camelCase keys (``loginRoles``, ``approvalGroups``, ``dynamoDbTable``, its misspelt
``identiyRegion``…) load unchanged through aliases; the project's own extensions are snake_case.
Every problem in a file is reported at once, each with its key path and the file's source.

The YAML loader keeps integer-looking scalars as text: YAML 1.1 reads ``012345670123`` as an
octal number and ``012345678901`` as a string, so account numbers only survive intact if they are
never turned into ints. pydantic converts numeric text wherever the schema wants a number.
"""

from __future__ import annotations

import contextlib
import functools
import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Any

import botocore.loaders
import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cloud_access_bot.domain import approvers as domain_approvers
from cloud_access_bot.domain import rules as domain_rules
from cloud_access_bot.domain.rules import IDENTITY_CENTER_MODES, AccessMode, SelfApproval

ROLE_ARN = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):iam::(\d{12}):role/([\w+=,.@/-]{1,512})$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov)-[a-z]+-\d$")
ACTION_PATTERN = re.compile(r"^([a-z0-9-]+:[A-Za-z0-9*?]+|\*)$")
#: A Slack channel id, or a channel name (lowercase letters, digits, ``-`` and ``_``, up to 80).
CHANNEL = re.compile(r"^([CG][A-Z0-9]{8,}|#?[a-z0-9][a-z0-9_-]{0,79})$")
#: perkbox's table when its config names none (perkbox/cloud-access-bot, GetDynamodbTable).
PERKBOX_DEFAULT_TABLE = "request_access_bot"

#: IAM Identity Center (sso, sso-directory, identitystore) would let a grant hand out
#: permission sets or add its holder to groups: as dangerous as iam:*.
DEFAULT_NEVER_GRANTABLE = (
    "iam:*",
    "organizations:*",
    "sts:*",
    "account:*",
    "sso:*",
    "sso-directory:*",
    "identitystore:*",
)
DEFAULT_DURATIONS = (15, 30, 60, 120, 240, 480, 720)


#: Set while check-config validates: whether IAM has an action (or a pattern matches one).
#: The running bot leaves it unset, so a configuration never depends on the catalog's age.
_ACTION_CATALOG: ContextVar[Callable[[str], bool] | None] = ContextVar(
    "action_catalog", default=None
)


@contextlib.contextmanager
def actions_checked_by(is_known: Callable[[str], bool]) -> Iterator[None]:
    """Within this block, configurations are also checked for action names IAM lacks."""
    token = _ACTION_CATALOG.set(is_known)
    try:
        yield
    finally:
        _ACTION_CATALOG.reset(token)


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` holds one line per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _account_number(value: Any) -> str:
    """Accept 12 digits as text, or an int from Python callers whose leading zeros were lost."""
    if isinstance(value, bool):
        raise ValueError("must be a 12-digit AWS account number")
    if isinstance(value, int):
        if not 0 < value < 10**12:
            raise ValueError(f"{value} is not a 12-digit AWS account number")
        return f"{value:012d}"
    if isinstance(value, str) and re.fullmatch(r"\d{12}", value.strip()):
        return value.strip()
    raise ValueError(f"{value!r} is not a 12-digit AWS account number")


AccountNumber = Annotated[str, BeforeValidator(_account_number)]


#: The account group requests are made in: added to ``accounts`` when identity_center has
#: groups, with the Identity Center account's number and the bot's role there. Requests to join
#: a group are then requests like any other (approvers, audit, App Home, sweeper).
GROUPS_ACCOUNT = "identity-center-groups"


class Binding(StrEnum):
    """What ties a grant to the requester's session (docs/security.md, Identity binding)."""

    USERID = "userid"
    """``aws:userid`` = login role's RoleId + ``:`` + email (the session name)."""
    SOURCE_IDENTITY = "source_identity"
    """Also ``aws:SourceIdentity`` = email, for IdPs that set it at sign-in."""


class FindVisibility(StrEnum):
    """Whose resources ``/request find`` shows (see docs/security.md)."""

    #: The accounts the person approves for or has been granted access in (admins: all).
    RESTRICTED = "restricted"
    #: Every account, to anyone in the workspace.
    PUBLIC = "public"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _check_role_names(names: list[str]) -> list[str]:
    for name in names:
        if not ROLE_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid IAM role name")
    return names


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's endpoint data (a local file, read once)."""
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return frozenset(region for p in endpoints["partitions"] for region in p["regions"])


def _check_regions(regions: list[str]) -> list[str]:
    for region in regions:
        if not REGION.match(region):
            raise ValueError(f"{region!r} is not an AWS region name (e.g. eu-west-1)")
        if region not in known_regions():
            raise ValueError(f"{region!r} is not a known AWS region")
    return regions


def _check_durations(durations: list[int]) -> list[int]:
    for minutes in durations:
        if not 1 <= minutes <= 7 * 24 * 60:
            raise ValueError(f"{minutes} minutes is outside 1 minute .. 7 days")
    return sorted(set(durations))


def _check_actions(actions: list[str]) -> list[str]:
    for action in actions:
        if not ACTION_PATTERN.match(action):
            raise ValueError(f"{action!r} is not an IAM action pattern like 's3:GetObject'")
    return actions


def _check_levels(levels: list[str]) -> list[str]:
    known = {"List", "Read", "Write", "Tagging", "Permissions management"}
    for level in levels:
        if level not in known:
            raise ValueError(f"{level!r} is not one of {sorted(known)}")
    return levels


class AutoApproveRule(_Strict):
    """Requests matching every clause are approved without a human (and still audited)."""

    accounts: list[str] = Field(
        default_factory=list,
        description="Account names the rule covers; empty means every non-production account.",
    )
    access_levels: list[str] = Field(default_factory=lambda: ["List", "Read"])
    max_duration_minutes: int = Field(default=60, ge=1)
    discovered_only: bool = Field(
        default=False,
        description="Only requests whose resources were all picked from discovery match.",
    )

    _levels = field_validator("access_levels")(classmethod(lambda cls, v: _check_levels(v)))


class Preset(_Strict):
    """A named bundle of actions offered at the top of the request modal."""

    description: str = ""
    actions: list[str]

    _check = field_validator("actions")(classmethod(lambda cls, v: _check_actions(v)))


def _ticket_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression ({exc})") from None
    return value


TicketPattern = Annotated[str, BeforeValidator(_ticket_pattern)]


def _approver_entries(values: Any) -> Any:
    """Each entry of ``approvers``, ``fallback_approvers`` or ``notify`` must name people
    (``domain.approvers.parse_approver``); the error says which forms are allowed."""
    if isinstance(values, list):
        for value in values:
            domain_approvers.parse_approver(str(value))
    return values


#: ``approvers: [U0123ABCD, alice@example.com, "@sre", "#prod-approvers"]``.
ApproverEntries = Annotated[list[str], BeforeValidator(_approver_entries)]


def _approval_channel(value: str | None) -> str | None:
    if value is not None and not CHANNEL.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel: a channel id (C0123ABCD) or a name of "
            "lowercase letters, digits, '-' and '_' (e.g. #sre-approvals)"
        )
    return value


ApprovalChannel = Annotated[str | None, BeforeValidator(_approval_channel)]


def _specs(entries: Sequence[str] | None) -> tuple[domain_approvers.ApproverSpec, ...]:
    return tuple(domain_approvers.parse_approver(entry) for entry in entries or ())


class Eligibility(_Strict):
    """Who may request access: anyone matching one of the lists (all empty: any full member).
    Slack guests and deactivated users are refused unless ``allow_guests``."""

    user_groups: list[str] = Field(default_factory=list)
    email_domains: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list, description="Slack user ids.")
    allow_guests: bool = False

    @field_validator("email_domains")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        for domain in domains:
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
                raise ValueError(f"{domain!r} is not an email domain like example.com")
        return domains


PERMISSION_SET_NAME = re.compile(r"^[\w+=,.@-]{1,32}$")
INSTANCE_ARN = re.compile(
    r"^arn:(aws|aws-us-gov|aws-cn):sso:::instance/(sso)?ins-[a-zA-Z0-9.-]{16}$"
)
IDENTITY_STORE_ID = re.compile(r"^d-[0-9a-f]{10}$|^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")


class TargetRule(_Strict):
    """Rules of one permission set or group, overriding the account's (or the global) ones."""

    approvals_required: int | None = Field(default=None, ge=1, le=10)
    approval_groups: list[str] | None = None
    max_duration_minutes: int | None = Field(default=None, ge=1)
    approvers: ApproverEntries | None = None


class PermissionSetRule(TargetRule):
    """``- {name: AdministratorAccess, approvals_required: 2, max_duration_minutes: 60}``."""

    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not PERMISSION_SET_NAME.match(value):
            raise ValueError(f"{value!r} is not a permission set name (1-32 of [A-Za-z0-9+=,.@_-])")
        return value


def _permission_set_rules(value: Any) -> Any:
    """A bare name in ``permission_sets`` is a rule with no overrides."""
    if isinstance(value, list):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    return value


class UserMatch(StrEnum):
    """How a requester's Slack profile finds their Identity Center user."""

    #: Their Slack email as the user's email, then as its UserName.
    EMAIL = "email"
    #: Their Slack email as the UserName only.
    USERNAME = "username"


class IdentityCenterConfig(_Strict):
    """The IAM Identity Center instance the permission_set mode and group requests use."""

    region: str
    instance_arn: str
    identity_store_id: str
    iam_role: str = Field(description="Role the bot assumes in the Identity Center account.")
    user_match: UserMatch = UserMatch.EMAIL
    groups: dict[str, TargetRule] = Field(default_factory=dict)
    permission_set_quota: int = Field(
        default=2000,
        ge=1,
        description="Permission sets the instance may hold (its Identity Center quota): "
        "request_permission_set refuses a grant that would need more.",
    )

    _region = field_validator("region")(classmethod(lambda cls, v: _check_regions([v])[0]))

    @field_validator("groups")
    @classmethod
    def _group_names(cls, groups: dict[str, TargetRule]) -> dict[str, TargetRule]:
        for name in groups:
            if not 1 <= len(name) <= 75:
                raise ValueError(f"group {name[:80]!r}: a group's DisplayName of 1-75 characters")
        return groups

    @field_validator("instance_arn")
    @classmethod
    def _instance(cls, value: str) -> str:
        if not INSTANCE_ARN.match(value):
            raise ValueError(f"{value!r} is not an instance ARN (arn:aws:sso:::instance/ssoins-…)")
        return value

    @field_validator("identity_store_id")
    @classmethod
    def _store(cls, value: str) -> str:
        if not IDENTITY_STORE_ID.match(value):
            raise ValueError(f"{value!r} is not an identity store id (d-<10 hex digits>)")
        return value

    @field_validator("iam_role")
    @classmethod
    def _role(cls, value: str) -> str:
        if not ROLE_ARN.match(value):
            raise ValueError(
                f"{value!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)"
            )
        return value


class AccountConfig(_Strict):
    account_number: AccountNumber
    iam_role: str = Field(description="Role the bot assumes in this account.")
    account_alias: str | None = None
    approval_groups: list[str] | None = Field(
        default=None, description="Slack user groups approving for this account (else global)."
    )
    login_roles: list[str] | None = Field(default=None, description="Else the global loginRoles.")
    access_mode: AccessMode = AccessMode.INLINE_POLICY
    managed_policy_name: str = "cloud-access-bot-grants"
    managed_policy_path: str = "/"
    broker_role: str | None = Field(
        default=None, description="Role assumed for session_credentials grants."
    )
    console_login_url: str | None = None
    session_cli_credentials: bool = Field(
        default=False,
        description="session_credentials mode: also DM CLI credentials (never stored or logged).",
    )
    revoke_cuts_off_session: bool = Field(
        default=False,
        description="session_credentials mode: revoking writes a deny for the issued session "
        "on the broker role until its window ends. The bot's role then needs iam:GetRole, "
        "ListRolePolicies, GetRolePolicy, PutRolePolicy and DeleteRolePolicy on the broker role, "
        "which the target-account module allows only with its revoke_cuts_off_session "
        "variable (and then bounds the broker role so that cannot raise its ceiling). Off: the "
        "issued session stays usable until its window ends.",
    )
    max_duration_minutes: int | None = Field(default=None, ge=1)
    approvals_required: int | None = Field(default=None, ge=1, le=10)
    production: bool = False
    allowed_dangerous_actions: list[str] = Field(default_factory=list)
    allow_escalation: bool = Field(
        default=False,
        description="Privilege-escalation actions may be requested here (never auto-approved, "
        "and they need as many approvals as a production account).",
    )
    bind: Binding = Binding.USERID
    regions: list[str] | None = None
    ticket_pattern: TicketPattern | None = Field(
        default=None, description="Requests must name a ticket id matching this regex."
    )
    warning: str | None = Field(
        default=None, max_length=300, description="Shown as a banner in the modal and card."
    )
    eligibility: Eligibility | None = Field(
        default=None, description="Who may request access here (else the global eligibility)."
    )
    ou_path: str | None = Field(
        default=None, description="Organizational unit path; filled in from Organizations."
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="Account tags; filled in from Organizations."
    )
    permission_sets: Annotated[list[PermissionSetRule], BeforeValidator(_permission_set_rules)] = (
        Field(
            default_factory=list,
            description="access_mode permission_set: the permission sets requesters may pick.",
        )
    )
    approvers: ApproverEntries | None = Field(
        default=None,
        description="Who may approve besides approval_groups: user ids, emails, groups, "
        "#channels (their members). Else the global approvers.",
    )
    fallback_approvers: ApproverEntries | None = Field(
        default=None, description="Who may approve when the approvers resolve to nobody."
    )
    notify: ApproverEntries | None = Field(
        default=None, description="Shown the approval card for information only (no buttons)."
    )
    approval_channel: ApprovalChannel = Field(
        default=None, description="Channel the approval card is posted to, with its buttons."
    )
    approval_dms: bool | None = Field(
        default=None, description="Whether approvers also get the card by DM (default true)."
    )

    _roles = field_validator("login_roles")(
        classmethod(lambda cls, v: None if v is None else _check_role_names(v))
    )
    _regions = field_validator("regions")(
        classmethod(lambda cls, v: None if v is None else _check_regions(v))
    )
    _dangerous = field_validator("allowed_dangerous_actions")(
        classmethod(lambda cls, v: _check_actions(v))
    )

    @field_validator("iam_role", "broker_role")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is not None and not ROLE_ARN.match(value):
            raise ValueError(
                f"{value!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)"
            )
        return value

    @model_validator(mode="after")
    def _role_in_account(self) -> AccountConfig:
        for field in ("iam_role", "broker_role"):
            arn = getattr(self, field)
            match = ROLE_ARN.match(arn) if arn else None
            if match and match.group(2) != self.account_number:
                raise ValueError(
                    f"{field} {arn} is in account {match.group(2)}, "
                    f"not in account_number {self.account_number}"
                )
        if self.access_mode is AccessMode.SESSION_CREDENTIALS and not self.broker_role:
            raise ValueError("access_mode session_credentials needs broker_role")
        if self.access_mode is AccessMode.SESSION_CREDENTIALS and self.bind is not Binding.USERID:
            raise ValueError("bind source_identity needs a login role (not session_credentials)")
        if self.access_mode is AccessMode.PERMISSION_SET and not self.permission_sets:
            raise ValueError("access_mode permission_set needs permission_sets")
        return self

    def permission_set(self, name: str) -> PermissionSetRule | None:
        return next((rule for rule in self.permission_sets if rule.name == name), None)


class AuditArchive(_Strict):
    """Where every audit event is also written, as JSON Lines (docs/audit.md "Archive")."""

    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="S3 bucket name."
    )
    prefix: str = Field(
        default="",
        pattern=r"^([A-Za-z0-9!_.*'()-]+/)*$",
        description="Key prefix ending in '/' (e.g. events/), or empty.",
    )


#: An EventBridge bus name, or its ARN.
EVENT_BUS = (
    r"^([.\-_A-Za-z0-9]{1,256}"
    r"|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[.\-_A-Za-z0-9/]{1,256})$"
)


class OrganizationsConfig(_Strict):
    """Accounts discovered from AWS Organizations (see docs/organizations.md)."""

    iam_role: str = Field(
        description="Read-only role in the management or delegated administrator account."
    )
    role_template: str = Field(
        description="The role the bot assumes in each account, e.g. "
        "arn:aws:iam::{account_id}:role/cloud-access-bot."
    )
    refresh_minutes: int = Field(default=60, ge=1, le=24 * 60)
    read_tags: bool = Field(
        default=True,
        description="Read each account's tags for rules and the account picker's search: one "
        "ListTagsForResource call per account, most of a refresh's calls. false: none "
        "(then no rule may match on tags).",
    )
    concurrency: int = Field(
        default=16,
        ge=1,
        le=32,
        description="Organizations calls in flight at once during a refresh (AWS throttles "
        "its read calls at a few per second; botocore's adaptive retry backs off further).",
    )
    tags_max_age_minutes: int = Field(
        default=360,
        ge=1,
        le=7 * 24 * 60,
        description="Every account's tags are read again within this long: a periodic refresh "
        "reads the tags of new accounts and the stalest share of the others, keeping the rest "
        "(docs/organizations.md).",
    )

    @field_validator("iam_role")
    @classmethod
    def _reader_arn(cls, value: str) -> str:
        if not ROLE_ARN.match(value):
            raise ValueError(
                f"{value!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)"
            )
        return value

    @field_validator("role_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{account_id}" not in value or not ROLE_ARN.match(
            value.replace("{account_id}", "0" * 12)
        ):
            raise ValueError(
                f"{value!r} must be a role ARN with {{account_id}} as its account, e.g. "
                "arn:aws:iam::{account_id}:role/cloud-access-bot"
            )
        return value

    def role_for(self, account_id: str) -> str:
        return self.role_template.replace("{account_id}", account_id)


class RuleMatch(_Strict):
    """Which accounts a rule covers: every clause given must match (none given: every account).

    ``ou`` is an OU path such as ``/Workloads/Prod`` and covers that OU and everything below
    it; each of its parts and ``name`` are shell-style patterns (``prod-*``); each tag value is
    a pattern too.
    """

    ou: str | None = Field(default=None, pattern=r"^/")
    tags: dict[str, str] = Field(default_factory=dict)
    name: str | None = None
    access_levels: list[str] = Field(
        default_factory=list,
        description="What is asked: the request has an action of one of these access levels.",
    )
    services: list[str] = Field(
        default_factory=list,
        description="What is asked: the request has an action of one of these services "
        "(prefixes such as s3, iam; shell-style patterns).",
    )
    actions: list[str] = Field(
        default_factory=list,
        description="What is asked: the request has an action one of these IAM action "
        "patterns may match (iam:*, s3:Delete*).",
    )
    permission_sets: list[str] = Field(
        default_factory=list,
        description="What is asked: the IAM Identity Center permission set or group "
        "(shell-style patterns).",
    )

    _levels = field_validator("access_levels")(classmethod(lambda cls, v: _check_levels(v)))
    _actions = field_validator("actions")(classmethod(lambda cls, v: _check_actions(v)))

    @field_validator("services")
    @classmethod
    def _services(cls, services: list[str]) -> list[str]:
        for service in services:
            if not re.fullmatch(r"[a-z0-9*?-]+", service):
                raise ValueError(f"{service!r} is not a service prefix like 's3' or 'iam'")
        return services

    @property
    def asks(self) -> bool:
        """Whether the rule matches on what a request asks (a route, ``domain.routing``)."""
        return bool(self.access_levels or self.services or self.actions or self.permission_sets)

    def covers(self, name: str, ou_path: str | None, tags: Mapping[str, str]) -> bool:
        """Whether every account clause (``ou``, ``name``, ``tags``) holds for the account."""
        if self.ou is not None and not _ou_matches(self.ou, ou_path):
            return False
        if self.name is not None and not fnmatchcase(name, self.name):
            return False
        return all(
            key in tags and fnmatchcase(tags[key], value) for key, value in self.tags.items()
        )


def _ou_matches(pattern: str, ou_path: str | None) -> bool:
    if ou_path is None:
        return False
    wanted = [part for part in pattern.split("/") if part]
    have = [part for part in ou_path.split("/") if part]
    return len(have) >= len(wanted) and all(map(fnmatchcase, have, wanted))


class RuleSettings(_Strict):
    """The per-account keys a rule may set (the meaning is that of the same key in accounts)."""

    access_mode: AccessMode | None = None
    login_roles: list[str] | None = None
    approval_groups: list[str] | None = None
    approvals_required: int | None = Field(default=None, ge=1, le=10)
    max_duration_minutes: int | None = Field(default=None, ge=1)
    production: bool | None = None
    regions: list[str] | None = None
    ticket_pattern: TicketPattern | None = None
    warning: str | None = Field(default=None, max_length=300)
    eligibility: Eligibility | None = None
    approvers: ApproverEntries | None = None
    fallback_approvers: ApproverEntries | None = None
    notify: ApproverEntries | None = None
    approval_channel: ApprovalChannel = None
    approval_dms: bool | None = None
    auto_approve: bool | None = Field(
        default=None,
        description="Only in a rule matching on what is asked: requests it wholly covers are "
        "approved without a person (never a wildcard resource, an escalation action or a "
        "production account).",
    )
    auto_approve_discovered_only: bool | None = Field(
        default=None,
        description="With auto_approve: only when every resource was picked from discovery.",
    )

    _roles = field_validator("login_roles")(
        classmethod(lambda cls, v: None if v is None else _check_role_names(v))
    )
    _regions = field_validator("regions")(
        classmethod(lambda cls, v: None if v is None else _check_regions(v))
    )

    @field_validator("access_mode")
    @classmethod
    def _mode(cls, mode: AccessMode | None) -> AccessMode | None:
        if mode is AccessMode.SESSION_CREDENTIALS:
            raise ValueError(
                "session_credentials needs a broker_role per account: set it in accounts"
            )
        return mode


class AccountRule(_Strict):
    """Settings for the accounts a rule matches. Every matching rule applies, in order, a
    later rule's key replacing an earlier one's; an explicit ``accounts:`` entry's own keys
    win over every rule."""

    description: str = ""
    match: RuleMatch = Field(default_factory=RuleMatch)
    set: RuleSettings = Field(default_factory=RuleSettings)
    exclude: bool = Field(
        default=False, description="Leave matching discovered accounts out of the bot."
    )

    @model_validator(mode="after")
    def _route_keys(self) -> AccountRule:
        """A rule on what is asked sets only what one request can change; auto-approval
        needs a rule on the actions asked."""
        written = self.set.model_fields_set
        if self.match.asks:
            other = sorted(written - ROUTE_KEYS)
            if other:
                raise ValueError(
                    f"set.{other[0]}: a rule matching on what is asked (access_levels, "
                    "services, actions, permission_sets) may only set "
                    f"{', '.join(sorted(ROUTE_KEYS))}"
                )
            if self.exclude:
                raise ValueError("exclude: a rule matching on what is asked cannot exclude")
        auto = "auto_approve" in written or "auto_approve_discovered_only" in written
        if auto and not (self.match.access_levels or self.match.services or self.match.actions):
            raise ValueError(
                "set.auto_approve: only in a rule matching on the actions asked "
                "(access_levels, services or actions)"
            )
        if self.set.auto_approve and self.set.approvals_required:
            raise ValueError(
                "set.auto_approve: a rule cannot both auto-approve and require approvals"
            )
        return self

    def route(self, index: int) -> domain_rules.Route:
        """The rule as the domain applies it to one request (``domain.routing``)."""
        match, settings = self.match, self.set
        return domain_rules.Route(
            label=self.description or f"rules.{index}",
            access_levels=tuple(match.access_levels),
            services=tuple(match.services),
            actions=tuple(match.actions),
            permission_sets=tuple(match.permission_sets),
            approvals_required=settings.approvals_required,
            approval_groups=tuple(settings.approval_groups) if settings.approval_groups else None,
            max_duration_minutes=settings.max_duration_minutes,
            auto_approve=bool(settings.auto_approve),
            discovered_only=bool(settings.auto_approve_discovered_only),
        )


#: What a rule matching on what is asked may set.
ROUTE_KEYS = frozenset(
    {
        "approvals_required",
        "approval_groups",
        "max_duration_minutes",
        "auto_approve",
        "auto_approve_discovered_only",
    }
)


class BotConfig(_Strict):
    """The whole YAML file. Aliases are perkbox's keys; field names are the project's."""

    login_roles: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("loginRoles", "login_roles")
    )
    approval_groups: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("approvalGroups", "approval_groups")
    )
    regions: list[str] = Field(default_factory=lambda: ["eu-west-1"])
    accounts: dict[str, AccountConfig] = Field(default_factory=dict)
    dynamodb_table: str = Field(
        default="cloud_access_bot",
        validation_alias=AliasChoices("dynamoDbTable", "dynamodb_table"),
        pattern=r"^[A-Za-z0-9_.-]{3,255}$",
    )
    request_command: str = "request"
    identity_region: str | None = Field(
        default=None, validation_alias=AliasChoices("identiyRegion", "identity_region")
    )
    audit_command: str | None = None

    create_table: bool = False
    durations_minutes: list[int] = Field(default_factory=lambda: list(DEFAULT_DURATIONS))
    max_duration_minutes: int = Field(default=720, ge=1)
    approvals_required: int = Field(default=1, ge=1, le=10)
    self_approval: SelfApproval = SelfApproval.DENY
    auto_approve: list[AutoApproveRule] = Field(default_factory=list)
    pending_timeout_minutes: int = Field(default=480, ge=1)
    reminder_minutes: list[int] = Field(default_factory=lambda: [30, 120, 240])
    never_grantable_actions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NEVER_GRANTABLE)
    )
    deny_permissions_management: bool = True
    allow_wildcard_resources: bool = False
    audit_channel: str | None = None
    admin_groups: list[str] = Field(default_factory=list)
    email_alias_domains: dict[str, str] = Field(
        default_factory=dict,
        description="Alias email domain -> canonical domain: accounts whose emails differ only "
        "by case, +tag or an aliased domain are one person (no approving your own request).",
    )
    max_grants_per_requester_role: int = Field(
        default=3,
        ge=1,
        description="Open requests (pending, approved or active) one person may hold on one "
        "shared login role of one account, so nobody can fill the role for everyone.",
    )
    max_grant_chars_per_requester_role: int = Field(
        default=10_240,
        ge=256,
        description="Policy characters one person's open grants may take on one shared login "
        "role of one account: by default one role's inline budget, while the role holds that "
        "plus the managed policies grants overflow into.",
    )
    find_visibility: FindVisibility = FindVisibility.RESTRICTED
    audit_retention_days: int = Field(default=400, ge=1)
    sweep_interval_seconds: int = Field(default=15, ge=1, le=30)
    policy_name_prefix: str = Field(default="cloud-access-bot-", pattern=r"^[\w+=,.@-]{1,40}$")
    presets: dict[str, Preset] = Field(default_factory=dict)
    organizations: OrganizationsConfig | None = None
    rules: list[AccountRule] = Field(default_factory=list)
    eligibility: Eligibility = Field(default_factory=Eligibility)
    identity_center: IdentityCenterConfig | None = None
    audit_archive: AuditArchive | None = None
    event_bus: str | None = Field(default=None, pattern=EVENT_BUS)
    max_start_ahead_hours: int = Field(
        default=168,
        ge=0,
        le=8760,
        description='How far ahead a request may ask to start (the modal\'s "Start at"); '
        "0 turns scheduled starts off and hides the input.",
    )
    #: Minutes after a grant ends before its use is read from CloudTrail (which delivers
    #: events up to about 15 minutes late); null: no usage review.
    usage_review_delay_minutes: int | None = Field(default=15, ge=0, le=24 * 60)
    approvers: ApproverEntries = Field(
        default_factory=list,
        description="Who may approve besides approvalGroups (user ids, emails, groups, "
        "#channels for their members), where an account names no approvers of its own.",
    )
    fallback_approvers: ApproverEntries = Field(default_factory=list)
    notify: ApproverEntries = Field(default_factory=list)
    approval_channel: ApprovalChannel = None
    approval_dms: bool = True
    max_accounts_per_request: int = Field(
        default=20,
        ge=1,
        # The approval card holds a section per account within Slack's 50 blocks.
        le=40,
        description="Accounts one request may cover (the account picked plus those in "
        "'Also in these accounts'); a request over more is refused with this number.",
    )

    _roles = field_validator("login_roles")(classmethod(lambda cls, v: _check_role_names(v)))
    _regions = field_validator("regions")(classmethod(lambda cls, v: _check_regions(v)))
    _identity_region = field_validator("identity_region")(
        classmethod(lambda cls, v: None if v is None else _check_regions([v])[0])
    )
    _durations = field_validator("durations_minutes")(
        classmethod(lambda cls, v: _check_durations(v))
    )
    _never = field_validator("never_grantable_actions")(
        classmethod(lambda cls, v: _check_actions(v))
    )

    @field_validator("email_alias_domains")
    @classmethod
    def _alias_domains(cls, aliases: dict[str, str]) -> dict[str, str]:
        for alias, canonical in aliases.items():
            for domain in (alias, canonical):
                if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain.lower()):
                    raise ValueError(f"{domain!r} is not an email domain like example.com")
        return {a.lower(): c.lower() for a, c in aliases.items()}

    @model_validator(mode="before")
    @classmethod
    def _groups_account(cls, data: Any) -> Any:
        """Add GROUPS_ACCOUNT to ``accounts`` when identity_center offers groups."""
        if not isinstance(data, dict):
            return data
        center, accounts = data.get("identity_center"), data.get("accounts")
        if not (isinstance(center, dict) and center.get("groups") and isinstance(accounts, dict)):
            return data
        match = ROLE_ARN.match(str(center.get("iam_role", "")))
        if match is None or GROUPS_ACCOUNT in accounts:
            return data  # the role's own error is reported; a clash by _cross_checks
        groups = {
            "account_number": match.group(2),
            "iam_role": center["iam_role"],
            "account_alias": "IAM Identity Center groups",
            "access_mode": AccessMode.GROUP_MEMBERSHIP.value,
        }
        return {**data, "accounts": {**accounts, GROUPS_ACCOUNT: groups}}

    @field_validator("reminder_minutes")
    @classmethod
    def _reminders(cls, minutes: list[int]) -> list[int]:
        if any(m < 1 for m in minutes):
            raise ValueError("reminders are minutes after the request, each at least 1")
        return sorted(set(minutes))

    @field_validator("request_command", "audit_command")
    @classmethod
    def _command_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.lstrip("/")
        if not re.fullmatch(r"[a-z0-9_-]{1,31}", name):
            raise ValueError(f"{value!r} is not a Slack command name (lowercase, no spaces)")
        return name

    @field_validator("audit_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not CHANNEL.match(value):
            raise ValueError(
                f"{value!r} is not a Slack channel: a channel id (C0123ABCD) or a name of "
                "lowercase letters, digits, '-' and '_' (e.g. #access-audit)"
            )
        return value

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, accounts: dict[str, AccountConfig]) -> dict[str, AccountConfig]:
        for name in accounts:
            if not ACCOUNT_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid account name")
        return accounts

    @model_validator(mode="after")
    def _cross_checks(self) -> BotConfig:
        problems = []
        if not self.accounts and self.organizations is None:
            problems.append("accounts: at least one account is required (or organizations)")
        seen: dict[str, str] = {}
        for name, account in self.accounts.items():
            if account.access_mode is AccessMode.GROUP_MEMBERSHIP:
                if name != GROUPS_ACCOUNT or not (
                    self.identity_center and self.identity_center.groups
                ):
                    problems.append(
                        f"accounts.{name}: access_mode group_membership is only for the groups "
                        f"of identity_center (the bot adds account {GROUPS_ACCOUNT} itself)"
                    )
                elif not (self.approval_groups or self.approvers):
                    problems.extend(
                        f"identity_center.groups.{group}: no approval_groups here and no "
                        "global approvalGroups"
                        for group, rule in self.identity_center.groups.items()
                        if not (rule.approval_groups or rule.approvers)
                    )
                continue
            if account.account_number in seen:
                problems.append(
                    f"accounts.{name}.account_number: {account.account_number} is also "
                    f"account {seen[account.account_number]}"
                )
            seen[account.account_number] = name
            if not self.rules:
                problems += [f"accounts.{name}: {p}" for p in self.account_problems(account)]
        for rule_index, rule in enumerate(self.auto_approve):
            problems.extend(
                f"auto_approve.{rule_index}.accounts: unknown account {name!r}"
                for name in rule.accounts
                if name not in self.accounts
            )
        if not self.durations_minutes:
            problems.append("durations_minutes: at least one duration is required")
        problems += self._limit_problems() + self._catalog_problems()
        problems += self._unread_tag_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _unread_tag_problems(self) -> list[str]:
        """Rules matching on tags the bot is told not to read would silently never match."""
        if self.organizations is None or self.organizations.read_tags:
            return []
        return [
            f"rules.{index}.match.tags: organizations.read_tags is false, so no account has "
            "tags to match: remove the clause or set read_tags: true"
            for index, rule in enumerate(self.rules)
            if rule.match.tags
        ]

    def account_problems(self, account: AccountConfig) -> list[str]:
        """What makes one account unusable with this file's global keys (rules already
        applied): the bot could not offer a login role, an approver or a duration."""
        problems = []
        uses_identity_center = account.access_mode in IDENTITY_CENTER_MODES
        if uses_identity_center and self.identity_center is None:
            problems.append(f"access_mode {account.access_mode.value} needs identity_center")
        if not (account.login_roles or self.login_roles) and not uses_identity_center:
            problems.append("no login_roles here and no global loginRoles")
        if not (
            account.approval_groups or account.approvers or self.approval_groups or self.approvers
        ):
            problems.append("no approval_groups here and no global approvalGroups")
        if not self.approval_dms_for(account) and not self.approval_channel_for(account):
            problems.append("approval_dms is false and no approval_channel: nobody is asked")
        cap = min(
            account.max_duration_minutes or self.max_duration_minutes, self.max_duration_minutes
        )
        if self.durations_minutes and not any(m <= cap for m in self.durations_minutes):
            problems.append(f"no entry of durations_minutes is within its maximum of {cap} minutes")
        return problems

    def _limit_problems(self) -> list[str]:
        """Values written in the file that a limit silently overrides: each is a mistake the
        operator should see. Defaults are left alone (the default durations above a lower
        maximum are simply not offered)."""
        cap = self.max_duration_minutes
        written = self.model_fields_set
        problems = [
            f"durations_minutes: {minutes} is above max_duration_minutes ({cap})"
            for minutes in self.durations_minutes
            if minutes > cap and "durations_minutes" in written
        ]
        problems += [
            f"auto_approve.{index}.max_duration_minutes: {rule.max_duration_minutes} is above "
            f"max_duration_minutes ({cap})"
            for index, rule in enumerate(self.auto_approve)
            if rule.max_duration_minutes > cap and "max_duration_minutes" in rule.model_fields_set
        ]
        problems += [
            f"reminder_minutes: {minutes} is not before pending_timeout_minutes "
            f"({self.pending_timeout_minutes}): the request times out first"
            for minutes in self.reminder_minutes
            if minutes >= self.pending_timeout_minutes and "reminder_minutes" in written
        ]
        return problems

    def _catalog_problems(self) -> list[str]:
        """Action names IAM does not have, when checking against a catalog (check-config):
        a preset that grants nothing, a guardrail that guards nothing (a typo in
        never_grantable_actions blocks no action at all)."""
        is_known = _ACTION_CATALOG.get()
        if is_known is None:
            return []
        named = [("never_grantable_actions", self.never_grantable_actions)]
        named += [(f"presets.{name}.actions", p.actions) for name, p in self.presets.items()]
        return [
            f"{where}: {action!r} is not an IAM action (not in the IAM catalog)"
            for where, actions in named
            for action in actions
            if not is_known(action)
        ]

    # Derived views used across the app.

    def account(self, name: str) -> AccountConfig | None:
        return self.accounts.get(name)

    def login_roles_for(self, account_name: str) -> list[str]:
        """None for IAM Identity Center accounts: people sign in with the permission set."""
        account = self.accounts[account_name]
        if account.access_mode in IDENTITY_CENTER_MODES:
            return []
        return account.login_roles or self.login_roles

    def target_rule(self, account_name: str, target: str | None) -> TargetRule | None:
        """The rules of the permission set or group a request targets (None: the account's)."""
        if target is None:
            return None
        account = self.accounts[account_name]
        if account.access_mode is AccessMode.GROUP_MEMBERSHIP and self.identity_center:
            return self.identity_center.groups.get(target)
        return account.permission_set(target)

    def approval_groups_for(self, account_name: str, target: str | None = None) -> list[str]:
        """The user groups among the approvers (``approver_specs_for``)."""
        return [
            spec.value
            for spec in self.approver_specs_for(account_name, target)
            if spec.kind is domain_approvers.Kind.GROUP
        ]

    def approver_specs_for(
        self, account_name: str, target: str | None = None
    ) -> tuple[domain_approvers.ApproverSpec, ...]:
        """Who may approve: ``approval_groups`` and ``approvers`` of the most specific level
        that names any (the permission set or group, the account, the global keys)."""
        account = self.accounts[account_name]
        rule = self.target_rule(account_name, target)
        levels = [
            (rule.approval_groups, rule.approvers) if rule else (None, None),
            (account.approval_groups, account.approvers),
            (self.approval_groups, self.approvers),
        ]
        for groups, entries in levels:
            if groups or entries:
                return domain_approvers.merged(
                    domain_approvers.groups(groups or ()), _specs(entries)
                )
        return ()

    def approval_channel_for(self, account: AccountConfig) -> str | None:
        return account.approval_channel or self.approval_channel

    def approval_dms_for(self, account: AccountConfig) -> bool:
        return self.approval_dms if account.approval_dms is None else account.approval_dms

    def regions_for(self, account_name: str) -> list[str]:
        return self.accounts[account_name].regions or self.regions

    def max_duration_for(self, account_name: str, target: str | None = None) -> int:
        account = self.accounts[account_name]
        cap = min(
            account.max_duration_minutes or self.max_duration_minutes, self.max_duration_minutes
        )
        rule = self.target_rule(account_name, target)
        return min(cap, rule.max_duration_minutes) if rule and rule.max_duration_minutes else cap

    def durations_for(self, account_name: str, target: str | None = None) -> list[int]:
        cap = self.max_duration_for(account_name, target)
        return [m for m in self.durations_minutes if m <= cap]

    def approvals_required_for(self, account_name: str, target: str | None = None) -> int:
        rule = self.target_rule(account_name, target)
        if rule is not None and rule.approvals_required:
            return rule.approvals_required
        return self.accounts[account_name].approvals_required or self.approvals_required

    def rules_in_force(self) -> domain_rules.Rules:
        """The rules in force under this configuration, as the domain's plain values.

        Built once per configuration object (it is immutable): with thousands of accounts
        building them takes ~100 ms, and the service asks for them several times a request.
        """
        key = id(self)
        cached = _IN_FORCE.get(key)
        if cached is not None and cached[0]() is self:
            return cached[1]
        rules = self._build_rules()
        _IN_FORCE[key] = (weakref.ref(self, lambda _: _IN_FORCE.pop(key, None)), rules)
        return rules

    def _build_rules(self) -> domain_rules.Rules:
        return domain_rules.Rules(
            accounts={name: self.rules_for(name) for name in self.accounts},
            never_grantable_actions=tuple(self.never_grantable_actions),
            deny_permissions_management=self.deny_permissions_management,
            allow_wildcard_resources=self.allow_wildcard_resources,
            self_approval=self.self_approval,
            auto_approve=tuple(
                domain_rules.AutoApproveRule(
                    accounts=tuple(rule.accounts),
                    access_levels=tuple(rule.access_levels),
                    max_duration_minutes=rule.max_duration_minutes,
                    discovered_only=rule.discovered_only,
                )
                for rule in self.auto_approve
            ),
        )

    def _targets(self, account_name: str) -> list[str]:
        """The permission sets (permission_set mode) or groups (the groups account) that may
        be asked for in the account."""
        account = self.accounts[account_name]
        if account.access_mode is AccessMode.PERMISSION_SET:
            return [rule.name for rule in account.permission_sets]
        if account.access_mode is AccessMode.GROUP_MEMBERSHIP and self.identity_center:
            return list(self.identity_center.groups)
        return []

    def _limits(self, account_name: str, target: str | None) -> domain_rules.Limits:
        account = self.accounts[account_name]
        fallback = account.fallback_approvers
        notify = account.notify
        return domain_rules.Limits(
            approval_groups=tuple(self.approval_groups_for(account_name, target)),
            approvals_required=self.approvals_required_for(account_name, target),
            max_duration_minutes=self.max_duration_for(account_name, target),
            durations=tuple(self.durations_for(account_name, target)),
            approvers=self.approver_specs_for(account_name, target),
            fallback_approvers=_specs(self.fallback_approvers if fallback is None else fallback),
            notify=_specs(self.notify if notify is None else notify),
        )

    def rules_for(self, account_name: str) -> domain_rules.AccountRules:
        """One account's effective settings (KeyError when it is not configured)."""
        account = self.accounts[account_name]
        return domain_rules.AccountRules(
            name=account_name,
            account_number=account.account_number,
            iam_role=account.iam_role,
            access_mode=account.access_mode,
            login_roles=tuple(self.login_roles_for(account_name)),
            regions=tuple(self.regions_for(account_name)),
            limits=self._limits(account_name, None),
            targets={t: self._limits(account_name, t) for t in self._targets(account_name)},
            production=account.production,
            allow_escalation=account.allow_escalation,
            allowed_dangerous_actions=tuple(account.allowed_dangerous_actions),
            approval_channel=self.approval_channel_for(account),
            approval_dms=self.approval_dms_for(account),
            routes=self.routes_for(account_name),
        )

    def routes_for(self, account_name: str) -> tuple[domain_rules.Route, ...]:
        """The rules on what is asked whose account clauses cover the account, in file order."""
        account = self.accounts[account_name]
        return tuple(
            rule.route(index)
            for index, rule in enumerate(self.rules)
            if rule.match.asks and rule.match.covers(account_name, account.ou_path, account.tags)
        )


#: ``BotConfig.rules_in_force`` of each live configuration, by ``id`` (a weak reference drops
#: the entry with its configuration).
_IN_FORCE: dict[int, tuple[weakref.ref[BotConfig], domain_rules.Rules]] = {}


def _format_error(error: Any) -> str:
    path = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling)"
    if error["type"] == "missing":
        message = "required key is missing"
    return f"{path}: {message}" if path else message


class _Loader(yaml.SafeLoader):
    """SafeLoader with integers kept as text and duplicate keys refused (see the module doc)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [entry for entry in resolvers if entry[0] != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_config(text: str, source: str) -> BotConfig:
    """Parse YAML text into a BotConfig or raise ConfigError listing every problem."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(source, [f"{where}not valid YAML ({problem})"]) from None
    if data is None:
        raise ConfigError(source, ["the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError(source, ["the file must be a YAML mapping of keys to values"])
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc.errors())
        problems += [p for p in _cross_check_problems(data, exc) if p not in problems]
        raise ConfigError(source, problems) from None


def _problems(errors: Sequence[Any]) -> list[str]:
    problems: list[str] = []
    for error in errors:
        line = _format_error(error)
        # Cross-checks join several problems into one error: split them back out.
        problems.extend(part.strip() for part in line.split("; ") if part.strip())
    return problems


def _cross_check_problems(data: dict[str, Any], exc: ValidationError) -> list[str]:
    """The cross-field problems of a file that also has field errors, in the same report.

    pydantic runs a model's cross-checks only once every field is valid. So validate again
    without what failed (a top-level key falls back to its default, a failing account is left
    out) and keep the cross-checks' findings, minus those the removal itself caused.
    """
    failed = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    accounts = data.get("accounts")
    if not isinstance(accounts, dict):
        return []
    failed_accounts = {
        str(e["loc"][1]) for e in exc.errors() if len(e["loc"]) > 1 and e["loc"][0] == "accounts"
    }
    kept = {name: value for name, value in accounts.items() if name not in failed_accounts}
    if not kept:
        return []
    salvaged = {k: v for k, v in data.items() if k not in failed} | {"accounts": kept}
    try:
        BotConfig.model_validate(salvaged)
    except ValidationError as second:
        cross = [e for e in second.errors() if not e["loc"] and e["type"] == "value_error"]
        caused = tuple(f"unknown account {name!r}" for name in failed_accounts)
        return [p for p in _problems(cross) if not p.endswith(caused)]
    return []


def config_warnings(config: BotConfig) -> list[str]:
    """Things that load but may not be what the operator means (check-config prints them)."""
    warnings = []
    if "dynamodb_table" not in config.model_fields_set:
        warnings.append(
            f"dynamoDbTable is not set, so the table is {config.dynamodb_table}; perkbox "
            f"used {PERKBOX_DEFAULT_TABLE} when unset, a table of another layout this bot does "
            "not read: set dynamoDbTable to the table Terraform created (see 'Migrating from "
            "perkbox' in docs/deploy.md)"
        )
    return warnings
