"""settle_memory: the run process's long-lived data is loaded and frozen before connecting."""

from __future__ import annotations

import gc
import sys

from cloud_access_bot.runtime import settle_memory


def test_settle_memory_loads_parliament_and_freezes_what_is_alive() -> None:
    try:
        settle_memory()

        assert "parliament" in sys.modules
        assert gc.get_freeze_count() > 100_000  # the IAM data, not a handful of objects
    finally:
        gc.unfreeze()


def full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def test_after_settle_memory_work_in_flight_does_not_trigger_full_collections() -> None:
    """Under load the bot holds tens of thousands of objects of work in flight; with CPython's
    default thresholds keeping 400k of them alive ran several full collections (each walking
    them all with every ack waiting), after ``settle_memory`` none."""
    thresholds = gc.get_threshold()
    try:
        settle_memory()
        before = full_collections()

        in_flight: list[list[object]] = [[] for _ in range(400_000)]

        assert full_collections() == before, f"{full_collections() - before} full collections"
        assert len(in_flight) == 400_000
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
