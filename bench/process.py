"""``cloud-access-bot run`` as a real process: start → Socket Mode connected, and its memory.

The bot runs as production runs it (``python -m cloud_access_bot run`` with the production
settings), against the Slack emulator of this process and moto; it creates its table at start
(``create_table: true``), as a first deployment without Terraform would.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.bot_process import config_yaml, running_bot
from bench.report import Metric, rounded
from bench.sweep import DEFAULT_SWEEP_INTERVAL_S
from cloud_access_bot.config import BotConfig
from cloud_access_bot_sandbox.scenario import sandbox_config, seed_workspace
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator

#: After the connection, time for the first sweep and health write before reading memory.
SETTLE_S = 2.0


def startup_config() -> BotConfig:
    """The sandbox's accounts and roles, with the production sweep interval; the bot creates
    its own table."""
    return sandbox_config(
        dynamoDbTable="bench-startup", sweep_interval_seconds=DEFAULT_SWEEP_INTERVAL_S
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def start_once(emulator: SlackEmulator, workdir: Path) -> tuple[float, float]:
    """(seconds from spawn to Socket Mode connected, RSS in MB once settled)."""
    started = time.monotonic()
    async with running_bot(emulator, workdir, config_yaml(startup_config())) as bot:
        seconds = time.monotonic() - started
        await asyncio.sleep(SETTLE_S)
        if bot.returncode is not None:
            raise RuntimeError(f"the bot exited with {bot.returncode}")
        return seconds, rss_mb(bot.pid)


async def measure(starts: int) -> list[Metric]:
    emulator = SlackEmulator()
    await emulator.start()
    seed_workspace(emulator)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-run-") as temp:
            workdir = Path(temp)
            runs = [await start_once(emulator, workdir) for _ in range(starts)]
    finally:
        await emulator.stop()
    return [
        Metric(
            "rss_mb_idle",
            rounded(max(rss for _, rss in runs)),
            "MB",
            target="< 200 MB (Fargate task: 512 MB)",
        ),
        Metric("startup_s", rounded(statistics.median(s for s, _ in runs)), "s", target="report"),
    ]
