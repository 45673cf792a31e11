"""Who may request access to which account (``eligibility`` in the file, per account or rule).

Anyone matching one of the lists (a user group, an email domain, a named user id) may ask;
empty lists mean any full member of the workspace. Slack guests and deactivated users are
refused unless ``allow_guests`` (deactivated users always). The decision is pure
(``refusal``); ``refusal_for`` and ``requestable`` fetch the facts through the Directory port.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloud_access_bot.config import BotConfig, Eligibility
from cloud_access_bot.domain.people import Person
from cloud_access_bot.ports import Directory

GUEST_REFUSED = (
    "Slack guests cannot request AWS access here. Ask a full member of the workspace "
    "or an admin of the bot."
)
DEACTIVATED_REFUSED = "Your Slack account is deactivated, so you cannot request AWS access."
UNKNOWN_PERSON = "Slack did not say who you are; try again in a minute."


def refusal(eligibility: Eligibility, person: Person | None, *, in_groups: bool) -> str | None:
    """Why ``person`` may not request under ``eligibility`` (None: they may). ``in_groups``:
    whether they are in one of its user groups."""
    if person is None:
        return UNKNOWN_PERSON
    if person.deactivated:
        return DEACTIVATED_REFUSED
    if person.guest and not eligibility.allow_guests:
        return GUEST_REFUSED
    lists = (eligibility.user_groups, eligibility.email_domains, eligibility.users)
    if not any(lists):
        return None
    domain = (person.email or "").rpartition("@")[2].lower()
    if in_groups or person.user_id in eligibility.users or domain in eligibility.email_domains:
        return None
    open_to = [
        *(f"members of {g}" for g in eligibility.user_groups),
        *(f"@{d} addresses" for d in eligibility.email_domains),
        *(["people named in the configuration"] if eligibility.users else []),
    ]
    return f"Only {', '.join(open_to)} may request access to this account."


def eligibility_of(config: BotConfig, account_name: str) -> Eligibility:
    account = config.accounts[account_name]
    return account.eligibility or config.eligibility


async def _refusal(
    eligibility: Eligibility, person: Person | None, directory: Directory, *, fresh: bool = False
) -> str | None:
    in_groups = False
    if person is not None and eligibility.user_groups:
        members = await directory.members_of(eligibility.user_groups, fresh=fresh)
        in_groups = person.user_id in members
    return refusal(eligibility, person, in_groups=in_groups)


async def refusal_for(
    config: BotConfig, account_name: str, user_id: str, directory: Directory
) -> str | None:
    """Why ``user_id`` may not request access to ``account_name`` (None: they may)."""
    person = await directory.person(user_id)
    return await _refusal(eligibility_of(config, account_name), person, directory)


async def refusal_now(
    config: BotConfig, account_id: str, user_id: str, directory: Directory
) -> str | None:
    """``refusal_for`` at approval and at grant write: the account found by its recorded
    number under the configuration in force now, group membership read afresh (the person
    may have left the group, or the file changed, since they submitted). None also when no
    account has that number any more: the account checks refuse that request."""
    names = [name for name, a in config.accounts.items() if a.account_number == account_id]
    if not names:
        return None
    person = await directory.person(user_id)
    return await _refusal(eligibility_of(config, names[0]), person, directory, fresh=True)


class Requestable:
    """The accounts a person may request, for the account picker. Accounts are grouped by
    their eligibility once per configuration, so a person costs one decision per distinct
    eligibility (a handful), not one per account."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory
        self._grouped: tuple[BotConfig, Mapping[str, tuple[Eligibility, frozenset[str]]]] | None
        self._grouped = None

    def _groups(self, config: BotConfig) -> Mapping[str, tuple[Eligibility, frozenset[str]]]:
        if self._grouped is None or self._grouped[0] is not config:
            names: dict[str, list[str]] = {}
            kinds: dict[str, Eligibility] = {}
            for name in config.accounts:
                eligibility = eligibility_of(config, name)
                key = eligibility.model_dump_json()
                kinds[key] = eligibility
                names.setdefault(key, []).append(name)
            grouped = {key: (kinds[key], frozenset(names[key])) for key in kinds}
            self._grouped = (config, grouped)
        return self._grouped[1]

    async def accounts(self, config: BotConfig, user_id: str) -> frozenset[str]:
        person = await self._directory.person(user_id)
        allowed: set[str] = set()
        for eligibility, names in self._groups(config).values():
            if await _refusal(eligibility, person, self._directory) is None:
                allowed |= names
        return frozenset(allowed)
