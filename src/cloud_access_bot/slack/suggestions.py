"""Options for the request modal's external selects: services, actions, resources.

Slack option values are limited to 75 characters, while ARNs are often longer. An ARN that fits
is its own value; a longer one becomes ``h:`` + a digest, mapped back on submit by looking the
digest up among the account's discovered resources. That lookup re-runs (cached) discovery, so
it works on whichever replica receives the submission, with no state kept between requests.

An option value is whatever the client sends: a forged one can name any ARN. So every value,
short ARN or digest, must be one of the account's discovered resources, and the service
validates every resource again whatever its source.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cloud_access_bot.config import BotConfig
from cloud_access_bot.domain.arns import partition_of, validate_arn
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.presets import PresetDefaults, preset_defaults
from cloud_access_bot.domain.resources import DiscoveryResult, Resource, search
from cloud_access_bot.ports import Discovery
from cloud_access_bot.slack.views import option, truncate

MAX_VALUE = 75
HASH_PREFIX = "h:"
#: Discovery time allowed inside a 3-second Slack deadline.
DISCOVERY_WAIT_S = 1.5


def resource_value(arn: str) -> str:
    if len(arn) <= MAX_VALUE and not arn.startswith(HASH_PREFIX):
        return arn
    return HASH_PREFIX + hashlib.sha256(arn.encode()).hexdigest()[: MAX_VALUE - len(HASH_PREFIX)]


def resolve_values(values: Iterable[str], known_arns: Iterable[str]) -> tuple[list[str], list[str]]:
    """ARNs for option values, and the values that match no known (discovered) ARN."""
    by_value = {resource_value(arn): arn for arn in known_arns}
    found, unknown = [], []
    for value in values:
        if value in by_value:
            found.append(by_value[value])
        else:
            unknown.append(value)
    return found, unknown


def _resource_option(resource: Resource, prefix: str = "") -> dict[str, Any]:
    """A discovered resource as an option: its name and region (after ``prefix``)."""
    label = f"{prefix}{resource.name} ({resource.region or 'global'})"
    return option(truncate(label, 75), resource_value(resource.arn))


class CatalogSuggestions:
    """Answers the modal's selects from the IAM catalog and resource discovery."""

    def __init__(
        self, catalog: Catalog, discovery: Discovery, config: Callable[[], BotConfig]
    ) -> None:
        self._catalog = catalog
        self._discovery = discovery
        self._config = config
        self._warming: set[asyncio.Task[Any]] = set()

    def services(self, query: str) -> list[dict[str, Any]]:
        return [o.to_slack() for o in self._catalog.service_options(query)]

    def actions(self, service: str, query: str) -> list[dict[str, Any]]:
        return [g.to_slack() for g in self._catalog.action_option_groups(service, query)]

    def decode_actions(self, values: list[str]) -> list[str]:
        decoded: list[str] = []
        for value in values:
            decoded.extend(a for a in self._catalog.decode_option(value) if a not in decoded)
        return decoded

    async def resources(self, account: str, service: str, query: str) -> list[dict[str, Any]]:
        result = await self._discover(account, service, wait=DISCOVERY_WAIT_S)
        options = [_resource_option(r) for r in search(result, query, limit=100)]
        if result.failures and len(options) < 100:
            note = truncate("⚠ " + result.failures[0].message, 75)
            options.append(option(note, "failure"))
        return options

    async def decode_resources(self, account: str, service: str, values: list[str]) -> list[str]:
        chosen = [v for v in values if v not in ("failure", "loading")]
        if not chosen:
            return []
        result = await self._discover(account, service, wait=DISCOVERY_WAIT_S)
        found, unknown = resolve_values(chosen, [r.arn for r in result.resources])
        if unknown:
            raise ValueError(
                f"{len(unknown)} selected resource(s) are not among the resources discovered in "
                f"{account} (gone since, or never offered); pick them again from the list."
            )
        return found

    async def resources_in(
        self, accounts: Sequence[str], service: str, query: str
    ) -> list[dict[str, Any]]:
        found = await asyncio.gather(
            *(self._discover(a, service, wait=DISCOVERY_WAIT_S) for a in accounts)
        )
        # Each account gets its share of Slack's 100 options; typing narrows every share.
        share = max(1, 100 // max(1, len(accounts)))
        options = [
            _resource_option(r, f"{name}: ")
            for name, result in zip(accounts, found, strict=True)
            for r in search(result, query, limit=share)
        ]
        failures = [
            f"{n}: {r.failures[0].message}"
            for n, r in zip(accounts, found, strict=True)
            if r.failures
        ]
        if failures and len(options) < 100:
            options.append(option(truncate("⚠ " + failures[0], 75), "failure"))
        return options[:100]

    async def decode_resources_in(
        self, accounts: Sequence[str], service: str, values: list[str]
    ) -> dict[str, list[str]]:
        remaining = [v for v in values if v not in ("failure", "loading")]
        found = await asyncio.gather(
            *(self._discover(a, service, wait=DISCOVERY_WAIT_S) for a in accounts)
        )
        owned: dict[str, list[str]] = {}
        for name, result in zip(accounts, found, strict=True):
            owned[name], remaining = resolve_values(remaining, [r.arn for r in result.resources])
        if remaining:
            raise ValueError(
                f"{len(remaining)} selected resource(s) are not among the resources discovered "
                f"in {', '.join(accounts)} (gone since, or never offered); pick them again."
            )
        return owned

    def check_arns(self, account: str, service: str, arns: list[str]) -> list[str]:
        config = self._config()
        settings = config.account(account)
        if settings is None:
            return [f"Unknown account {account!r}."]
        problems = []
        for arn in arns:
            if arn == "*":
                continue  # judged by the service, which knows the actions it is for
            problem = validate_arn(
                arn,
                service=service,
                account_id=settings.account_number,
                regions=config.regions_for(account),
                allow_wildcards=config.allow_wildcard_resources,
                partition=partition_of(settings.iam_role),
                catalog=self._catalog,
            )
            if problem:
                problems.append(problem)
        return problems

    def preset(self, name: str) -> PresetDefaults | None:
        preset = self._config().presets.get(name)
        if preset is None:
            return None
        try:
            return preset_defaults(name, preset.actions, self._catalog)
        except ValueError:
            return None

    def warm(self, account: str, service: str, *, refresh: bool = False) -> None:
        work = self._discover(account, service, wait=None, refresh=refresh)
        task = asyncio.create_task(work)
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)

    async def _discover(
        self, account: str, service: str, *, wait: float | None, refresh: bool = False
    ) -> DiscoveryResult:
        config = self._config()
        settings = config.account(account)
        if settings is None:
            return DiscoveryResult((), ())
        return await self._discovery.discover(
            [(settings.account_number, settings.iam_role)],
            config.regions_for(account),
            [service],
            wait_seconds=wait,
            refresh=refresh,
        )
