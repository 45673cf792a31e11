"""``python -m bench [--smoke] [--only GROUP ...] [--repeat N] [--output PATH] [--stalls DIR]``:
run the benchmark, print the table, write JSON (a partial run writes only where ``--output``
says)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from bench import stalls
from bench.aws_server import moto_process
from bench.runner import DEFAULT_REPEAT, FULL, GROUPS, REPEATED, SMOKE, run

DEFAULT_OUTPUT = Path(__file__).with_name("results.json")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every metric at a tiny scale")
    parser.add_argument("--output", type=Path, default=None, help=f"default {DEFAULT_OUTPUT}")
    parser.add_argument(
        "--only", nargs="+", choices=list(GROUPS), default=list(GROUPS), help="groups to run"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"runs of each latency group ({', '.join(sorted(REPEATED))}), reported as the "
        f"median with min–max; default {DEFAULT_REPEAT} (1 with --smoke)",
    )
    parser.add_argument(
        "--stalls",
        type=Path,
        default=None,
        help="log every slow event-loop callback and GC of each process there (bench.stalls); "
        "writes no results file unless --output says where",
    )
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.smoke else DEFAULT_REPEAT)
    logging.basicConfig(level=logging.ERROR)
    whole = not args.smoke and not args.stalls and args.only == list(GROUPS)
    if args.stalls:
        args.stalls.mkdir(parents=True, exist_ok=True)
        os.environ[stalls.ENVIRONMENT] = str(args.stalls)
        stalls.install_from_environment("bench")
    output = args.output or (DEFAULT_OUTPUT if whole else None)
    mode, scale = ("smoke", SMOKE) if args.smoke else ("full", FULL)
    with moto_process() as endpoint:
        asyncio.run(run(scale, endpoint, output, mode, args.only, repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
