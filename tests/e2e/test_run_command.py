"""`cloud-access-bot run` as ops start it: a process, env settings, SIGTERM to stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from cloud_access_bot_sandbox.scenario import sandbox, sandbox_config


async def test_run_connects_reports_health_and_stops_on_sigterm(aws: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(json.dumps(sandbox_config().model_dump(mode="json")))
    health = tmp_path / "health.json"
    async with sandbox(start=False) as world:
        emulator = world.emulator
        env = {
            **os.environ,
            "SLACK_APP_TOKEN": emulator.app_token,
            "SLACK_BOT_TOKEN": emulator.bot_token,
            "SLACK_API_URL": emulator.api_url,
            "BOT_CONFIG_FILE": str(config),
            "HEALTH_FILE": str(health),
            "LOG_FORMAT": "json",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cloud_access_bot",
            "run",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await emulator.wait_connected(timeout=30)
            await emulator.wait_until(lambda: health.exists(), timeout=10)
            check = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cloud_access_bot", "health", env=env
            )
            assert await check.wait() == 0
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert emulator.bot_token not in stderr.decode()
    assert emulator.app_token not in stderr.decode()
    assert json.loads(health.read_text())["connected"] is False
