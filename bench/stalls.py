"""Event-loop stalls and garbage collections of each process, to find where a latency tail
comes from (``python -m bench --only slack --repeat 1 --stalls DIR``).

Each process of the run (the benchmark's, which hosts the emulator; the bot, started as
``python -m bench.stalls run``; moto) writes ``DIR/<name>-<pid>.log``, one line per
event-loop callback that ran longer than ``THRESHOLD_MS``::

    CB <start> <wall ms> <cpu ms> <task's coroutine> -> <coroutine it awaits>

and one per garbage collection that took longer, or was a full one (with the objects in each
generation when it started)::

    GC <start> <wall ms> <cpu ms> gen<N> collected=<n> [objects=<gen0>/<gen1>/<gen2>]

This is asyncio's debug-mode slow-callback log (``loop.slow_callback_duration``) without the
rest of debug mode, which captures a traceback for every callback scheduled and would itself
become the bottleneck. Times are CLOCK_MONOTONIC, the same in every process of the machine,
so the three logs line up. Timing every callback costs a little: never on for the figures.
On a busy machine wall times include waiting for a core; the CPU times and the object counts
do not.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

ENVIRONMENT = "BENCH_STALLS_DIR"
THRESHOLD_MS = 5.0


def _describe(handle: asyncio.Handle) -> str:
    """The task a callback steps (its coroutine and the innermost one it awaits), or the
    callback itself."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if not isinstance(owner, asyncio.Task):
        return repr(callback)[:160]
    outer = inner = owner.get_coro()
    while (awaited := getattr(inner, "cr_await", None)) is not None and hasattr(
        awaited, "cr_frame"
    ):
        inner = awaited
    return f"{getattr(outer, '__qualname__', '?')} -> {getattr(inner, '__qualname__', '?')}"


class Probe:
    """Writes with ``os.write``: a collection can start in the middle of any line."""

    def __init__(self, path: Path, threshold_ms: float = THRESHOLD_MS) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._threshold_s = threshold_ms / 1000
        self._gc_started = (0.0, 0.0)

    def line(self, text: str) -> None:
        os.write(self._fd, f"{text}\n".encode())

    def install(self) -> None:
        run = asyncio.Handle._run
        probe = self

        def timed(handle: asyncio.Handle) -> None:
            wall, cpu = time.monotonic(), time.thread_time()
            run(handle)
            took = time.monotonic() - wall
            if took > probe._threshold_s:
                spent = time.thread_time() - cpu
                probe.line(
                    f"CB {wall:.4f} {took * 1000:.1f} {spent * 1000:.1f} {_describe(handle)}"
                )

        asyncio.Handle._run = timed  # type: ignore[method-assign, assignment]
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = (time.monotonic(), time.thread_time())
            if info["generation"] == 2:
                sizes = "/".join(str(len(gc.get_objects(g))) for g in range(3))
                self._sizes = f" objects={sizes}"
            return
        wall, cpu = self._gc_started
        took = time.monotonic() - wall
        full = info["generation"] == 2
        if full or took > self._threshold_s:
            spent = (time.thread_time() - cpu) * 1000
            self.line(
                f"GC {wall:.4f} {took * 1000:.1f} {spent:.1f} gen{info['generation']}"
                f" collected={info['collected']}{self._sizes if full else ''}"
            )

    _sizes = ""


def install_from_environment(name: str) -> None:
    """Probe this process if ``BENCH_STALLS_DIR`` names a directory."""
    directory = os.environ.get(ENVIRONMENT)
    if directory:
        Probe(Path(directory) / f"{name}-{os.getpid()}.log").install()


def main() -> int:
    """``python -m bench.stalls <cloud-access-bot arguments>``: the bot, probed."""
    from cloud_access_bot.cli import main as bot_main

    install_from_environment("bot")
    return bot_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
