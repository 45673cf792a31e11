"""moto's server for the benchmark, in its own process, and a reset between groups of metrics.

In production AWS runs elsewhere; moto's ``ThreadedMotoServer`` in the bot's own process would
compete with the bot for the GIL and make every figure about the bot look worse than it is. So
the benchmark starts moto (``start_moto``, as the demo does) in a child process, with moto's
TransactWriteItems spared its rollback copy of the whole table (``cheap_transactions``, measured
in docs/performance.md). The smoke test passes the endpoint of the test session's stock moto.

That child still shares the machine's two cores with the bot. Its heap (moto's backends and
AWS's managed policies) is 100–400k objects, and under the Slack load it ran a full garbage
collection every ~15 s, each a burst of 50–150 ms of CPU that the bot and the emulator then
waited for: so it freezes what it loaded at start and runs full collections a hundred times
less often (``MOTO_FULL_COLLECTION_EVERY``). Real AWS costs the bot none of that CPU.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.queues import Queue
from typing import Any

import aiohttp

from bench import stalls
from cloud_access_bot_sandbox.aws import start_moto
from cloud_access_bot_sandbox.demo import _use_local_aws

START_TIMEOUT_S = 60
#: Generation-1 collections between two full ones in moto's process (CPython's default: 10).
MOTO_FULL_COLLECTION_EVERY = 1000


def _serve(endpoints: Queue[Any]) -> None:
    """The child: run moto until terminated, with the benchmark's speed patch (only here)."""
    stalls.install_from_environment("moto")
    _server, endpoint = start_moto(cheap_transactions=True, cheap_account_lookup=True)
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, MOTO_FULL_COLLECTION_EVERY)
    endpoints.put(endpoint)
    threading.Event().wait()


@contextmanager
def moto_process() -> Iterator[str]:
    """moto in a child process; yields its endpoint with this process's AWS env pointed at it."""
    context = multiprocessing.get_context("spawn")
    endpoints: Queue[Any] = context.Queue()
    child = context.Process(target=_serve, args=(endpoints,), name="moto", daemon=True)
    child.start()
    try:
        endpoint = str(endpoints.get(timeout=START_TIMEOUT_S))
        _use_local_aws(endpoint)
        yield endpoint
    finally:
        child.terminate()
        child.join(10)


async def reset_moto(endpoint: str) -> None:
    """Empty every moto backend, so each group of metrics starts from a clean AWS."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{endpoint}/moto-api/reset") as response,
    ):
        response.raise_for_status()
