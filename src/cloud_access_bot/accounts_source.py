"""The accounts the bot runs with: the file's, plus those AWS Organizations lists, refreshed.

A refresh that fails keeps the last good list (logged once per distinct problem), so an
Organizations outage or a broken read role never removes accounts from the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from cloud_access_bot.config import BotConfig
from cloud_access_bot.config_rules import Effective, effective
from cloud_access_bot.domain.accounts import OrgSnapshot
from cloud_access_bot.ports import AccountDirectory

log = logging.getLogger(__name__)


class AccountsSource:
    """Combines ``config()`` with the latest organisation snapshot; ``config`` is what every
    part of the bot reads (the combination is computed once per config and snapshot)."""

    def __init__(
        self,
        config: Callable[[], BotConfig],
        directory: Callable[[BotConfig], AccountDirectory],
    ) -> None:
        self._file_config = config
        self._directory = directory
        self.snapshot: OrgSnapshot | None = None
        self._cached: tuple[BotConfig, OrgSnapshot | None, Effective] | None = None
        self._last_problem: str | None = None
        self._lock = asyncio.Lock()

    def effective(self) -> Effective:
        file_config = self._file_config()
        cached = self._cached
        if cached and cached[0] is file_config and cached[1] is self.snapshot:
            return cached[2]
        return self._keep(file_config, self.snapshot, effective(file_config, self.snapshot))

    def _keep(
        self, file_config: BotConfig, snapshot: OrgSnapshot | None, result: Effective
    ) -> Effective:
        if result.problems:
            log.warning("accounts left out of the bot", extra={"problems": result.problems[:50]})
        self._cached = (file_config, snapshot, result)
        return result

    def config(self) -> BotConfig:
        return self.effective().config

    def file_config(self) -> BotConfig:
        """The configuration as written, without the discovered accounts."""
        return self._file_config()

    async def refresh(self, *, all_tags: bool = False) -> bool:
        """List the organisation again; True if a new list was taken. Without an
        ``organizations`` section the discovered accounts are dropped. Tags are read for new
        accounts and a stale share of the others (the rest keep the last good ones), or for
        every account with ``all_tags`` (``/request accounts refresh``)."""
        file_config = self._file_config()
        if file_config.organizations is None:
            self.snapshot = None
            return False
        async with self._lock:
            try:
                snapshot = await self._directory(file_config).snapshot(
                    self.snapshot, all_tags=all_tags
                )
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
                level = logging.DEBUG if problem == self._last_problem else logging.WARNING
                self._last_problem = problem
                kept = len(self.snapshot.accounts) if self.snapshot else 0
                log.log(
                    level,
                    "listing AWS Organizations failed, keeping the last good list "
                    "(%d accounts): %s",
                    kept,
                    problem,
                )
                return False
            self._last_problem = None
            # Evaluating thousands of accounts takes most of a second of CPU: done in a thread
            # so the event loop keeps acking meanwhile, and ready before the snapshot is used.
            file_config = self._file_config()
            self._keep(
                file_config, snapshot, await asyncio.to_thread(effective, file_config, snapshot)
            )
            self.snapshot = snapshot
            log.info(
                "AWS Organizations listed",
                extra={"accounts": len(snapshot.accounts), "all_tags": all_tags},
            )
            return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Refresh every ``organizations.refresh_minutes`` until ``stop`` is set."""
        while not stop.is_set():
            settings = self._file_config().organizations
            interval = settings.refresh_minutes * 60 if settings else 60.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if not stop.is_set():
                await self.refresh()
