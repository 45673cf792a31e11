"""Figures summed over a test run and printed at its end: Socket Mode ack latencies of the e2e
tests, and the reliability tests' counts (docs/reliability.md quotes them).

Under pytest-xdist each worker sums its own share; the root conftest.py hands every worker's
figures to the controller, which prints the totals (and writes RELIABILITY_FIGURES).
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, fields
from typing import Any

#: Every e2e envelope's ack latency, in ms.
ACK_LATENCIES_MS: list[float] = []


@dataclass
class Figures:
    envelopes: int = 0
    slow_acks: int = 0
    faults: int = 0
    fuzzed: int = 0
    requests: int = 0
    lost: int = 0
    duplicate_grants: int = 0

    def dump(self) -> None:
        path = os.environ.get("RELIABILITY_FIGURES")
        if path:
            with open(path, "w", encoding="utf-8") as out:
                json.dump(asdict(self), out, indent=2)


FIGURES = Figures()


def collected() -> dict[str, Any]:
    """This process's figures, to send from a worker to the controller."""
    return {"ack_latencies_ms": ACK_LATENCIES_MS, "reliability": asdict(FIGURES)}


def add(figures: dict[str, Any]) -> None:
    """Add a worker's figures to this process's."""
    ACK_LATENCIES_MS.extend(figures["ack_latencies_ms"])
    for field in fields(Figures):
        name = field.name
        setattr(FIGURES, name, getattr(FIGURES, name) + figures["reliability"][name])


def lines() -> list[str]:
    """The end-of-run lines for what ran (none for a run without e2e or reliability tests)."""
    out = []
    if ACK_LATENCIES_MS:
        ordered = sorted(ACK_LATENCIES_MS)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        out.append(
            f"Socket Mode acks in e2e tests: {len(ordered)} envelopes, "
            f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, "
            f"max {ordered[-1]:.1f} ms (Slack allows 3000 ms)"
        )
    if FIGURES.envelopes:
        f = FIGURES
        out.append(
            f"Reliability: {f.envelopes} envelopes acked ({f.slow_acks} late), "
            f"{f.faults} AWS faults injected, {f.fuzzed} fuzzed inputs, "
            f"{f.requests} requests audited, {f.lost} lost, "
            f"{f.duplicate_grants} duplicate grants"
        )
    return out
