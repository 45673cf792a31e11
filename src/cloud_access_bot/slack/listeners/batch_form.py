"""Reading a request modal submitted with "Also in these accounts": one draft per account.

The form is read as for one account (``form.read_draft``), with resources resolved across all
the accounts: a picked resource belongs to the account whose discovery found it, a typed ARN
to the account it names (``domain.batch.arn_accounts``; checked against that account, never
another). Each account's draft then holds the same services and actions with its own
resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.batch import arn_accounts
from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.presets import PresetDefaults
from cloud_access_bot.service import Draft
from cloud_access_bot.slack import views
from cloud_access_bot.slack.listeners.form import read_draft
from cloud_access_bot.slack.listeners.shared import Suggestions, input_value
from cloud_access_bot.slack.views import ModalState


def also_accounts(view: dict[str, Any]) -> list[str]:
    """The account names picked in "Also in these accounts" (as sent: the service checks)."""
    values = view.get("state", {}).get("values", {})
    picked = input_value(values, views.ALSO_ACCOUNTS_BLOCK, views.ALSO_ACCOUNTS_ACTION)
    options = picked.get("selected_options") or []
    return [str(o.get("value")) for o in options if isinstance(o, dict) and o.get("value")]


def accounts_of(view: dict[str, Any], state: ModalState) -> list[str]:
    """Every account of the request: the one picked first, then the others, once each."""
    first = [state.account] if state.account else []
    return list(dict.fromkeys([*first, *also_accounts(view)]))


async def read_batch(
    view: dict[str, Any],
    state: ModalState,
    user_id: str,
    suggestions: Suggestions,
    config: BotConfig,
) -> tuple[list[Draft], dict[str, str]]:
    """One draft per account, or the problems keyed by field."""
    accounts = accounts_of(view, state)
    known = {
        name: config.accounts[name].account_number for name in accounts if name in config.accounts
    }
    unknown = [name for name in accounts if name not in known]
    if unknown:
        return [], {
            views.ALSO_ACCOUNTS_BLOCK: f"Unknown account {unknown[0]!r}: pick one from the list."
        }
    owners = _Owners(suggestions, known)
    draft, errors = await read_draft(view, state, user_id, owners)
    if draft is None:
        return [], errors
    drafts = []
    for name in accounts:
        services = tuple(
            ServiceAccess(
                s.service, s.actions, tuple(a for a in s.resources if owners.owns(name, a))
            )
            for s in draft.services
        )
        empty = [s.service for s in services if not s.resources]
        if empty and "resources" not in errors:
            errors["resources"] = (
                f"No resource in {name} for {', '.join(empty)}: pick one labelled {name}, or "
                f"type an ARN of account {known[name]} (or *)."
            )
        drafts.append(
            replace(
                draft,
                account_name=name,
                services=services,
                # One request id per account, stable across redeliveries of the submission.
                submission_id=f"{draft.submission_id}#{name}" if draft.submission_id else None,
                discovered=tuple(a for a in draft.discovered if owners.owns(name, a)),
            )
        )
    return drafts, errors


class _Owners:
    """The modal's suggestions, resolving resources over all the request's accounts and
    remembering which account each one belongs to."""

    def __init__(self, base: Suggestions, account_ids: dict[str, str]) -> None:
        self._base = base
        self._ids = account_ids
        self._accounts: list[str] = list(account_ids)
        self._owners: dict[str, set[str]] = {}

    def owns(self, account: str, arn: str) -> bool:
        return account in self._owners.get(arn, set())

    def _own(self, arn: str, accounts: Sequence[str]) -> None:
        self._owners.setdefault(arn, set()).update(accounts)

    async def decode_resources(self, account: str, service: str, values: list[str]) -> list[str]:
        owned = await self._base.decode_resources_in(self._accounts, service, values)
        for name, arns in owned.items():
            for arn in arns:
                self._own(arn, [name])
        return [arn for arns in owned.values() for arn in arns]

    def check_arns(self, account: str, service: str, arns: list[str]) -> list[str]:
        problems = []
        for arn in arns:
            owners = arn_accounts(arn, self._ids)
            if isinstance(owners, str):
                problems.append(owners)
                continue
            for name in owners:
                problems.extend(self._base.check_arns(name, service, [arn]))
            self._own(arn, owners)
        return problems

    def services(self, query: str) -> list[dict[str, Any]]:
        return self._base.services(query)

    def actions(self, service: str, query: str) -> list[dict[str, Any]]:
        return self._base.actions(service, query)

    def decode_actions(self, values: list[str]) -> list[str]:
        return self._base.decode_actions(values)

    async def resources(self, account: str, service: str, query: str) -> list[dict[str, Any]]:
        return await self._base.resources_in(self._accounts, service, query)

    async def resources_in(
        self, accounts: Sequence[str], service: str, query: str
    ) -> list[dict[str, Any]]:
        return await self._base.resources_in(accounts, service, query)

    async def decode_resources_in(
        self, accounts: Sequence[str], service: str, values: list[str]
    ) -> dict[str, list[str]]:
        return await self._base.decode_resources_in(accounts, service, values)

    def warm(self, account: str, service: str, *, refresh: bool = False) -> None:
        self._base.warm(account, service, refresh=refresh)

    def preset(self, name: str) -> PresetDefaults | None:
        return self._base.preset(name)
