"""``cloud-access-bot run`` as a real process, as production runs it, against this process's
Slack emulator and moto: its own interpreter and event loop, so the emulator's work and the
simulated users' work are not counted as the bot's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from bench import stalls
from cloud_access_bot.config import BotConfig
from cloud_access_bot_sandbox.scenario import Sandbox
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator

CONNECT_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60
REPOSITORY = Path(__file__).resolve().parents[1]


def bot_command() -> list[str]:
    """``python -m cloud_access_bot``, or the same probed by ``bench.stalls`` (``--stalls``)."""
    if os.environ.get(stalls.ENVIRONMENT):
        return [sys.executable, "-m", "bench.stalls"]
    return [sys.executable, "-m", "cloud_access_bot"]


def bot_environment(emulator: SlackEmulator, workdir: Path) -> dict[str, str]:
    """This process's environment (its AWS variables point at moto) with the bot's settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "BOT_CONFIG_"))
    }
    env.update(
        {
            "SLACK_APP_TOKEN": emulator.app_token,
            "SLACK_BOT_TOKEN": emulator.bot_token,
            "SLACK_API_URL": emulator.api_url,
            "BOT_CONFIG_FILE": str(workdir / "config.yaml"),
            "HEALTH_FILE": str(workdir / "health.json"),
            "LOG_LEVEL": "WARNING",
        }
    )
    if os.environ.get(stalls.ENVIRONMENT):  # the bot runs from a temporary directory
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    return env


@contextlib.asynccontextmanager
async def running_bot(
    emulator: SlackEmulator, workdir: Path, config: Mapping[str, Any]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Spawn the bot with ``config`` (YAML keys), yield it once its Socket Mode connection is
    open, and stop it with SIGTERM on the way out."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(dict(config)))
    opened = emulator.connections_opened
    bot = await asyncio.create_subprocess_exec(
        *bot_command(),
        "run",
        env=bot_environment(emulator, workdir),
        cwd=workdir,  # no stray .env from the repository
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        await emulator.wait_connected(timeout=CONNECT_TIMEOUT_S, total=opened + 1)
        yield bot
        if bot.returncode is not None:
            raise RuntimeError(f"the bot exited with {bot.returncode}")
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), STOP_TIMEOUT_S)


def config_yaml(config: BotConfig) -> dict[str, Any]:
    """``config`` as the YAML keys of a config file."""
    return config.model_dump(mode="json", by_alias=True, exclude_unset=True)


@contextlib.asynccontextmanager
async def running_bot_of(world: Sandbox) -> AsyncIterator[asyncio.subprocess.Process]:
    """The bot of a sandbox started without one (``start=False``), with its configuration."""
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as temp:
        async with running_bot(world.emulator, Path(temp), config_yaml(world.config)) as bot:
            yield bot
