"""The benchmark's repeated figures: median with min–max, each run's load average kept."""

from __future__ import annotations

import gc

from bench.report import Metric, Run, combined, table
from bench.slack_load import no_gc_pauses


def test_repeated_runs_report_the_median_with_min_max_and_each_runs_load() -> None:
    runs = [
        ([Metric("ack_p99", 18.0, "ms"), Metric("cold_s", 5.0, "s", baseline=130.0)], (1.0, 2, 3)),
        ([Metric("ack_p99", 122.0, "ms"), Metric("cold_s", 6.0, "s", baseline=140.0)], (7.5, 2, 3)),
        ([Metric("ack_p99", 26.0, "ms"), Metric("cold_s", 4.0, "s", baseline=120.0)], (2.0, 2, 3)),
    ]

    ack, cold = combined(runs)

    assert (ack.value, ack.spread) == (26.0, (18.0, 122.0))
    assert ack.as_json()["runs"][1] == {"value": 122.0, "loadavg": [7.5, 2, 3]}
    assert (cold.value, cold.baseline) == (5.0, 130.0)
    assert "| 26 ms (18–122, 3 runs) |" in table([ack])


def test_a_single_run_is_reported_as_it_is() -> None:
    metric = Metric("rss_mb_idle", 188.0, "MB")

    (only,) = combined([([metric], (0.5, 0.5, 0.5))])

    assert only == metric and only.runs == () and "runs" not in only.as_json()
    assert Run(1.0, (1.0, 1.0, 1.0)).as_json()["loadavg"] == [1.0, 1.0, 1.0]


def test_no_gc_pauses_stops_automatic_collection_and_restores_it() -> None:
    with no_gc_pauses():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
