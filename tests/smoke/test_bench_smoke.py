"""A tiny run of the benchmark (``python -m bench --smoke``), so the suite cannot rot unseen.

It checks that every metric the README publishes is produced with a number; it asserts no
timing: figures on a shared CI machine mean nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.runner import SMOKE, run

METRICS = (
    "ack_latency_p50_ms",
    "ack_latency_p99_ms",
    "options_latency_p99_ms",
    "discovery_cold_s",
    "approve_to_active_p50_ms",
    "grants_per_second",
    "grants_per_shared_role",
    "sweep_ms_10k_active_100_expired",
    "sweep_ms_40_expired_aws_50ms",
    "revocation_lag_p99_s",
    "rss_mb_idle",
    "startup_s",
    "org_account_options_p99_ms",
    "org_rules_evaluation_p99_ms",
    "org_rss_growth_mb",
    "org_refresh_s",
    "org_refresh_warm_s",
    "org_refresh_without_tags_s",
    "org_discovery_one_account_ms",
    "approve_to_assigned_p50_ms",
    "approve_to_assigned_p99_ms",
    "grants_per_account_request_permission_set",
    "batch_approve_to_all_active_p50_ms",
    "batch_speedup",
)
WITH_BASELINE = (
    "discovery_cold_s",
    "grants_per_shared_role",
    "sweep_ms_40_expired_aws_50ms",
    "grants_per_account_request_permission_set",
    "org_discovery_one_account_ms",
    "batch_approve_to_all_active_p50_ms",
)


async def test_smoke_run_writes_every_metric_with_a_number(aws: str, tmp_path: Path) -> None:
    output = tmp_path / "results.json"

    await run(SMOKE, aws, output, "smoke")

    results = json.loads(output.read_text())
    for name in METRICS:
        entry = results[name]
        assert isinstance(entry["value"], int | float) and math.isfinite(entry["value"]), name
        assert isinstance(entry["unit"], str) and entry["unit"], name
        has_baseline = isinstance(entry["baseline"], int | float)
        assert has_baseline if name in WITH_BASELINE else entry["baseline"] is None, name
    assert results["_machine"]["nproc"] >= 1
    assert results["_run"]["mode"] == "smoke"
