"""Metrics, percentiles, repeated runs, the printed table, the machine description and
``results.json``."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LoadAverage = tuple[float, float, float]


@dataclass(frozen=True)
class Run:
    """One run's value of a repeated metric, and the machine's load average when it ended."""

    value: float
    loadavg: LoadAverage

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "loadavg": list(self.loadavg)}


@dataclass(frozen=True)
class Metric:
    """One figure; ``baseline`` is the naive approach measured in the same run (or None).

    A repeated metric's ``value`` (and ``baseline``) is the median of its ``runs``.
    """

    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    note: str = ""
    runs: tuple[Run, ...] = ()

    @property
    def spread(self) -> tuple[float, float] | None:
        """(min, max) over the runs, if there was more than one."""
        if len(self.runs) < 2:
            return None
        values = [run.value for run in self.runs]
        return min(values), max(values)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value, "unit": self.unit, "baseline": self.baseline}
        if self.spread is not None:
            data["min"], data["max"] = self.spread
            data["runs"] = [run.as_json() for run in self.runs]
        return data


def load_average() -> LoadAverage:
    """The machine's 1, 5 and 15 minute load averages (``/proc/loadavg``), zeros elsewhere."""
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except (OSError, ValueError):
        return (0.0, 0.0, 0.0)
    return (float(one), float(five), float(fifteen))


def combined(runs: Sequence[tuple[Sequence[Metric], LoadAverage]]) -> list[Metric]:
    """One metric per name over repeated runs of a group (each with its load average): the
    median value and baseline, each run kept. A single run is returned as it is."""
    if len(runs) == 1:
        return list(runs[0][0])
    first, _ = runs[0]
    by_name = [({m.name: m for m in metrics}, load) for metrics, load in runs]
    result = []
    for metric in first:
        each = [(named[metric.name], load) for named, load in by_name]
        baselines = [m.baseline for m, _ in each if m.baseline is not None]
        result.append(
            dataclasses.replace(
                metric,
                value=rounded(statistics.median(m.value for m, _ in each)),
                baseline=rounded(statistics.median(baselines)) if baselines else None,
                runs=tuple(Run(m.value, load) for m, load in each),
            )
        )
    return result


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
        if metric.spread is not None:
            low, high = metric.spread
            value += f" ({_number(low)}–{_number(high)}, {len(metric.runs)} runs)"
        baseline = "–" if metric.baseline is None else f"{_number(metric.baseline)} {metric.unit}"
        lines.append(f"| `{metric.name}` | {value} | {baseline} | {metric.target or 'report'} |")
    return "\n".join(lines)


def write_results(
    path: Path, metrics: Sequence[Metric], extra: dict[str, Any] | None = None
) -> None:
    """``{"<metric>": {"value", "unit", "baseline"[, "min", "max", "runs"]}, "_machine": {...},
    ...}``; ``runs`` (repeated metrics only) holds each run's value and load average."""
    data: dict[str, Any] = {m.name: m.as_json() for m in metrics}
    data["_machine"] = machine()
    data.update(extra or {})
    path.write_text(json.dumps(data, indent=2) + "\n")
