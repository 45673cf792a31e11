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
