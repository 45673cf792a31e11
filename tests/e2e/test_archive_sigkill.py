"""A real `cloud-access-bot run` killed with SIGKILL right after each state change still archives
every event: the outbox item was written in the change's own transaction."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from cloud_access_bot.aws.archive import S3Archive
from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.domain.model import Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import APPROVERS, sandbox, sandbox_config
from tests.e2e.test_sigkill_restart import first_request, process_env, start_bot_process

BOB = APPROVERS[0]
BUCKET = "acme-audit"


async def test_sigkill_after_each_state_change_loses_no_archived_event(
    aws: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.yml"
    bot_config = sandbox_config(audit_archive={"bucket": BUCKET, "prefix": "events/"})
    config.write_text(json.dumps(bot_config.model_dump(mode="json")))
    async with sandbox(start=False, config=bot_config) as world:
        async with world.clients.client("s3") as s3:
            await s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        emulator = world.emulator
        env = process_env(emulator, config, tmp_path)
        store = DynamoStore(world.clients, bot_config.dynamodb_table)
        process = await start_bot_process(env)

        async def kill_and_restart() -> None:
            nonlocal process
            process.send_signal(signal.SIGKILL)
            await process.wait()
            opened = emulator.connections_opened
            process = await start_bot_process(env)
            await emulator.wait_connected(timeout=30, total=opened + 1)

        try:
            await emulator.wait_connected(timeout=30)
            await world.request(resources=[world.accounts["development"].buckets[0]])
            request = await world.wait_for(lambda: first_request(store), "a stored request", 30)
            await kill_and_restart()  # killed right after REQUESTED was stored
            dm = await world.approval_dm(BOB, request.id)
            await emulator.click(BOB, dm, views.APPROVE_ACTION)

            async def active() -> bool:
                current = await store.get(request.id)
                return current is not None and current.status is Status.ACTIVE

            await world.wait_for(active, "the grant", 30)
            await kill_and_restart()  # killed right after APPROVED and GRANTED were stored

            table = {e.seq for e in await store.events(request.id)}

            async def archived() -> set[int] | None:
                rows = await S3Archive(world.clients).read(BUCKET, "events/", None)
                seqs = {r["seq"] for r in rows if r["request_id"] == request.id}
                return seqs if seqs >= table else None

            assert await world.wait_for(archived, "every event in the archive", 30) == table
            assert len(table) >= 3
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
