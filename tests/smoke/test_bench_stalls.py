"""bench.stalls: the probe that found where the ack latency tail came from."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from bench.stalls import Probe


async def blocking_listener() -> None:
    await asyncio.sleep(0)
    time.sleep(0.03)  # noqa: ASYNC251 - a callback that holds the event loop


def test_the_probe_logs_a_slow_callback_with_its_coroutine_and_a_full_collection(
    tmp_path: Path,
) -> None:
    log = tmp_path / "bench.log"
    run, callbacks = asyncio.Handle._run, list(gc.callbacks)
    try:
        Probe(log, threshold_ms=10).install()
        asyncio.run(blocking_listener())
        gc.collect()
    finally:
        asyncio.Handle._run = run  # type: ignore[method-assign]
        gc.callbacks[:] = callbacks

    lines = log.read_text().splitlines()
    slow = [line for line in lines if line.startswith("CB ")]
    assert len(slow) == 1 and slow[0].endswith("blocking_listener -> blocking_listener")
    assert float(slow[0].split()[2]) >= 30
    assert any(line.startswith("GC ") and " gen2 " in line and "objects=" in line for line in lines)
