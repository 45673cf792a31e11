"""The rules in force when a request is approved and when its grant is written.

Configuration may change between a submission and its approval (S3 config reloads while the bot
runs), and a grant may be written long after its approval (the sweeper finishes interrupted
grants). A grant never exceeds what current rules allow: before approving and again before
writing, the request is judged as if it were submitted now — account and login role still
configured and unchanged, guardrails, every resource, the maximum duration — and, when
approving, the pending timeout even if the sweeper has not timed the request out yet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain import guardrails
from cloud_access_bot.domain.arns import partition_of, resource_problems
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import AccessRequest, ServiceAccess


@dataclass(frozen=True)
class Recheck:
    """The verdict: a refusal, or a go-ahead, possibly for a shorter duration."""

    refusal: str | None = None
    #: The account's maximum when it is now below what was asked: grant this long instead.
    capped_minutes: int | None = None

    def cap_note(self, asked: int, account_name: str) -> str:
        """What the approver and the requester are told about a capped duration."""
        return (
            f"The maximum duration for {account_name} is now {self.capped_minutes} minutes, so "
            f"this grant lasts {self.capped_minutes} minutes instead of the {asked} asked for."
        )


def scope_problems(
    services: Sequence[ServiceAccess],
    config: BotConfig,
    account_name: str,
    catalog: Catalog | None = None,
) -> list[tuple[str, str]]:
    """``(resource, why)`` for the resources of ``services`` the account's current config
    refuses."""
    account = config.accounts[account_name]
    return resource_problems(
        services,
        account_id=account.account_number,
        partition=partition_of(account.iam_role),
        regions=config.regions_for(account_name),
        allow_wildcards=config.allow_wildcard_resources,
        catalog=catalog,
    )


def recheck(
    request: AccessRequest,
    config: BotConfig,
    *,
    now: datetime,
    access_level: Callable[[str], str | None],
    approving: bool,
    catalog: Catalog | None = None,
) -> Recheck:
    """Whether ``request`` may be approved (``approving``) or its grant written, now.

    ``duration_minutes`` is compared with the account's current maximum: over it, the
    verdict caps the grant at the maximum (the approver already agreed to longer access,
    so shorter access is within what they approved; refusing would only make everyone ask
    again).
    """
    name = request.account_name
    account = config.account(name)
    if account is None:
        return Recheck(f"Account {name} is no longer configured; nothing was granted.")
    if account.account_number != request.account_id:
        return Recheck(
            f"Account {name} is now AWS account {account.account_number}, not "
            f"{request.account_id} as requested; nothing was granted. Ask again."
        )
    if request.login_role not in config.login_roles_for(name):
        return Recheck(
            f"Login role {request.login_role} is no longer configured for {name}; nothing "
            "was granted."
        )
    if approving and request.timeout_at is not None and now >= request.timeout_at:
        return Recheck(
            f"This request timed out at {request.timeout_at:%Y-%m-%d %H:%M} UTC without a "
            "decision; it can no longer be approved. Ask again."
        )
    refusals = guardrails.refused_actions(
        request.actions, config=config, account_name=name, access_level=access_level
    )
    scope = scope_problems(request.services, config, name, catalog)
    problems = [r.reason for r in refusals] + [why for _, why in scope]
    if problems:
        return Recheck("Under the current rules this cannot be granted: " + " ".join(problems))
    cap = config.max_duration_for(name)
    if request.duration_minutes > cap:
        return Recheck(capped_minutes=cap)
    return Recheck()
