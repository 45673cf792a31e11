"""The harness itself: what tests read back from the sandbox is what the bot just did."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot_sandbox.scenario import Sandbox


async def test_submit_returns_the_new_request_even_when_it_is_stored_after_the_ack(
    world: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submission is acked before its request is written: reading "the newest request"
    right after the ack found the previous one (the flaky reconnect test in
    tests/reliability/test_socket_mode.py)."""
    bucket = world.accounts["development"].buckets[0]
    first = await world.submit(resources=[bucket])
    store = world.runtime.store
    create = store.create

    async def slow_create(*args: Any, **kwargs: Any) -> AccessRequest:
        await asyncio.sleep(0.5)
        return await create(*args, **kwargs)

    monkeypatch.setattr(store, "create", slow_create)

    second = await world.submit(resources=[bucket])

    assert second.id != first.id
    assert second.created_at > first.created_at
