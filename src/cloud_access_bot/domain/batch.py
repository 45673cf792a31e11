"""Several accounts in one request: which accounts may go together, the strictest of their
rules, and which account a typed ARN belongs to (pure).

A request over N accounts is stored as N ordinary requests, one per account, linked by their
ids (``AccessRequest.batch``). What one account's rules ask of the request is its ``Terms``;
the request as a whole gets the strictest of them (``strictest``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cloud_access_bot.domain.rules import IDENTITY_CENTER_MODES, AccessMode


@dataclass(frozen=True)
class Terms:
    """What one account's rules ask of a request in it, where the accounts of one request
    must agree. Each account's request keeps its own approvers and maximum duration (checked
    as for a request in that account alone), and its own banner on the card."""

    approvals_required: int
    ticket_required: bool
    #: Whether an auto-approve rule would approve the request in this account alone.
    auto_approves: bool


@dataclass(frozen=True)
class Strictest:
    """The rule a request over several accounts follows: the strictest of every account's."""

    approvals_required: int
    ticket_required: bool
    auto_approves: bool


def strictest(terms: Sequence[Terms]) -> Strictest:
    """Most approvals, a ticket when any account requires one, and auto-approval only when
    every account would."""
    if not terms:
        raise ValueError("a request covers at least one account")
    return Strictest(
        approvals_required=max(t.approvals_required for t in terms),
        ticket_required=any(t.ticket_required for t in terms),
        auto_approves=all(t.auto_approves for t in terms),
    )


def accounts_problem(
    accounts: Sequence[str], modes: Mapping[str, AccessMode | None], limit: int
) -> str | None:
    """Why these accounts (the picked one first) cannot be asked for together, else None.

    ``modes`` maps each configured account to its access mode (absent or None: unknown).
    Accounts must be known, at most ``limit`` of them, and grant the same way as the first:
    a policy written in one account and an Identity Center assignment in another are not
    the same request. Identity Center accounts are asked for one at a time.
    """
    if len(accounts) > limit:
        return (
            f"A request may cover at most {limit} accounts; {len(accounts)} were picked. "
            "Remove some, or send several requests."
        )
    first = modes.get(accounts[0]) if accounts else None
    for name in accounts:
        mode = modes.get(name)
        if mode is None:
            return f"Unknown account {name!r}: pick accounts from the list."
        if mode in IDENTITY_CENTER_MODES:
            return (
                f"{name} grants through IAM Identity Center ({mode.value}): request it on "
                "its own; several accounts in one request are for IAM policy grants."
            )
        if mode is not first:
            assert first is not None
            return (
                f"{name} grants with {mode.value} and {accounts[0]} with {first.value}: "
                "accounts of one request must grant the same way. Request them separately."
            )
    return None


def arn_accounts(arn: str, account_ids: Mapping[str, str]) -> tuple[str, ...] | str:
    """The accounts of the request (name → account id, the first is the picked one) a typed
    ARN goes to, or why it goes to none.

    An ARN naming an account id goes to that account only — an ARN of account A is never
    granted in account B — and must name one of the request's accounts. ``*`` goes to every
    account. An ARN with no account id (an S3 bucket, say) goes to the picked account only:
    nothing in it says which account holds it (pick it from the list for the others, where
    each account's resources are labelled with it)."""
    names = tuple(account_ids)
    if arn == "*":
        return names
    parts = arn.split(":")
    account_id = parts[4] if len(parts) > 5 else ""
    if not account_id:
        return names[:1]
    owners = tuple(name for name, number in account_ids.items() if number == account_id)
    if not owners:
        return f"{arn} is in account {account_id}, which is not one of this request's accounts."
    return owners[:1]
