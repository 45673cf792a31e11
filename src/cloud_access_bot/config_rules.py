"""The effective account list: the file's ``accounts:`` plus the accounts discovered in AWS
Organizations, each with the ``rules:`` that match it applied. Pure functions, no I/O.

Precedence, lowest first: the defaults, then every matching rule in file order (a later rule's
key replaces an earlier one's), then the keys written in the account's own ``accounts:`` entry.
The global keys (``loginRoles``, ``approvalGroups``…) still fill in whatever is left unset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cloud_access_bot.config import AccountConfig, AccountRule, BotConfig
from cloud_access_bot.domain.accounts import OrgAccount, OrgSnapshot, bot_name


@dataclass(frozen=True)
class Facts:
    """What rules match on: the account's name, OU path and tags."""

    name: str
    ou_path: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class Evaluated:
    """One account after the rules: its settings (None if unusable, ``problems`` say why),
    the indexes of the rules that applied, and where it came from."""

    name: str
    account_id: str
    account: AccountConfig | None
    rules: tuple[int, ...]
    explicit: bool
    discovered: bool
    excluded: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Effective:
    """The configuration the bot runs with, and what did not make it in."""

    config: BotConfig
    evaluated: tuple[Evaluated, ...]

    @property
    def problems(self) -> list[str]:
        return [
            f"account {e.name} ({e.account_id}): {p}" for e in self.evaluated for p in e.problems
        ]


def rule_matches(rule: AccountRule, facts: Facts) -> bool:
    """Whether every account clause of the rule's ``match`` holds for the account (a rule on
    what is asked also matches only some requests: ``domain.routing``)."""
    return rule.match.covers(facts.name, facts.ou_path, facts.tags)


def matching_rules(rules: Iterable[AccountRule], facts: Facts) -> tuple[int, ...]:
    return tuple(index for index, rule in enumerate(rules) if rule_matches(rule, facts))


def evaluate(
    config: BotConfig,
    name: str,
    *,
    explicit: AccountConfig | None,
    discovered: OrgAccount | None,
) -> Evaluated:
    """Apply the matching rules to one account (explicit, discovered or both)."""
    assert explicit or discovered, "an account comes from the file or from Organizations"
    written: dict[str, Any] = (
        explicit.model_dump(include=explicit.model_fields_set) if explicit else {}
    )
    base: dict[str, Any] = {}
    if discovered is not None and config.organizations is not None:
        base = {
            "account_number": discovered.account_id,
            "iam_role": config.organizations.role_for(discovered.account_id),
            "ou_path": discovered.ou_path,
            "tags": dict(discovered.tags),
        }
    facts_from = base | written
    facts = Facts(name, facts_from.get("ou_path"), dict(facts_from.get("tags") or {}))
    applied = matching_rules(config.rules, facts)
    settings: dict[str, Any] = {}
    for index in applied:
        rule = config.rules[index]
        if not rule.match.asks:
            settings |= rule.set.model_dump(include=rule.set.model_fields_set)
    excluded = explicit is None and any(config.rules[i].exclude for i in applied)
    account_id = str(facts_from["account_number"])
    if excluded:
        return Evaluated(name, account_id, None, applied, False, True, True, ())
    try:
        account = AccountConfig.model_validate(base | settings | written)
    except ValidationError as exc:
        problems = tuple(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        return Evaluated(
            name, account_id, None, applied, bool(explicit), bool(discovered), False, problems
        )
    problems = tuple(config.account_problems(account))
    return Evaluated(
        name,
        account_id,
        None if problems else account,
        applied,
        explicit is not None,
        discovered is not None,
        False,
        problems,
    )


def _names(config: BotConfig, snapshot: OrgSnapshot) -> dict[str, OrgAccount]:
    """Discovered accounts not in the file, by a unique bot name (the id is appended when two
    accounts would share a name)."""
    in_file = {a.account_number for a in config.accounts.values()}
    taken = set(config.accounts)
    named: dict[str, OrgAccount] = {}
    fresh = [a for a in snapshot.accounts if a.account_id not in in_file]
    wanted = [bot_name(a) for a in fresh]
    clashing = {n for n, count in Counter(wanted).items() if count > 1}
    for account, name in zip(fresh, wanted, strict=True):
        if name in taken or name in clashing:
            name = f"{name[:51]}-{account.account_id}"
        taken.add(name)
        named[name] = account
    return named


def effective(config: BotConfig, snapshot: OrgSnapshot | None) -> Effective:
    """The configuration with every usable account, explicit and discovered."""
    if not config.rules and snapshot is None:
        return Effective(config, ())
    evaluated = evaluate_all(config, snapshot)
    accounts = {e.name: e.account for e in evaluated if e.account is not None}
    return Effective(config.model_copy(update={"accounts": accounts}), evaluated)


def evaluate_all(config: BotConfig, snapshot: OrgSnapshot | None) -> tuple[Evaluated, ...]:
    """Every account of the file and of the organisation, evaluated."""
    by_id = {a.account_id: a for a in snapshot.accounts} if snapshot else {}
    evaluated = [
        evaluate(config, name, explicit=account, discovered=by_id.get(account.account_number))
        for name, account in config.accounts.items()
    ]
    if snapshot is not None:
        evaluated += [
            evaluate(config, name, explicit=None, discovered=account)
            for name, account in _names(config, snapshot).items()
        ]
    return tuple(evaluated)


def warning_of(account: AccountConfig) -> str | None:
    """The banner a sensitive account shows in the modal and on the approval card: its
    ``warning`` text, else a plain notice for a production account."""
    if account.warning:
        return account.warning
    return "Production account: changes here affect customers." if account.production else None
