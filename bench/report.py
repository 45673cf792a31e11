"""Metrics, percentiles, the printed table, the machine description and ``results.json``."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One figure; ``baseline`` is the naive approach measured in the same run (or None)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "baseline": self.baseline}


def percentile(samples: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of at least one sample."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def rounded(value: float) -> float:
    """Three significant figures, so the table and the JSON show the same numbers."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = 2 - math.floor(math.log10(abs(value)))
    return round(value, max(digits, 0))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def table(metrics: Sequence[Metric]) -> str:
    """The figures as a markdown table (printed, and pasted into the README)."""
    lines = [
        "| metric | value | baseline | target |",
        "|---|---:|---:|---|",
    ]
    for metric in metrics:
        value = f"{_number(metric.value)} {metric.unit}"
        baseline = "–" if metric.baseline is None else f"{_number(metric.baseline)} {metric.unit}"
        lines.append(f"| `{metric.name}` | {value} | {baseline} | {metric.target or 'report'} |")
    return "\n".join(lines)


def write_results(
    path: Path, metrics: Sequence[Metric], extra: dict[str, Any] | None = None
) -> None:
    """``{"<metric>": {"value", "unit", "baseline"}, "_machine": {...}, ...}``."""
    data: dict[str, Any] = {m.name: m.as_json() for m in metrics}
    data["_machine"] = machine()
    data.update(extra or {})
    path.write_text(json.dumps(data, indent=2) + "\n")
