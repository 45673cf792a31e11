"""``cloud-access-bot demo``: the whole story, locally, with no credentials.

moto's server plays AWS (two accounts with a SAML login role, buckets and tables), the Slack
emulator plays Slack over a real Socket Mode WebSocket, and the real bot runs between them.
Alice asks for s3:GetObject on one bucket for one minute, Bob approves, the policy appears on
the login role, the minute passes, the sweeper removes it, and the audit trail is printed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from cloud_access_bot.domain.model import Status, iso
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies, start_moto
from cloud_access_bot_sandbox.scenario import APPROVERS, REQUESTER, Sandbox, sandbox

ACCOUNT = "development"


class Narrator:
    """Readable progress on stderr (or nothing with --json), with elapsed seconds."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:5.1f}s] {text}", flush=True)

    def block(self, text: str) -> None:
        if not self.quiet:
            print("\n".join("           " + line for line in text.splitlines()), flush=True)


def _use_local_aws(endpoint: str) -> None:
    """Point every AWS client of this process at moto, with throwaway credentials."""
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(proxy, None)
    os.environ.pop("MOTO_ACCOUNT_ID", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_SESSION_TOKEN": "demo",
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )


async def run_demo(json_output: bool = False) -> int:
    server, endpoint = start_moto()
    _use_local_aws(endpoint)
    narrator = Narrator(quiet=json_output)
    try:
        async with sandbox() as world:
            summary = await _story(world, narrator)
    finally:
        server.stop()
    if json_output:
        print(json.dumps(summary, indent=2))
    ok = not summary["policy_present_after_expiry"] and summary["statuses"][-1] == "EXPIRED"
    return 0 if ok else 1


async def _story(world: Sandbox, narrator: Narrator) -> dict[str, Any]:
    account = world.accounts[ACCOUNT]
    bucket = account.buckets[0]
    narrator.say(
        f"AWS (moto) has accounts {', '.join(a.account_id for a in world.accounts.values())}; "
        f"Slack (emulator) has alice, bob and carol (@devops). The bot is connected."
    )
    narrator.say(f"alice types /request: s3:GetObject on {bucket} in {ACCOUNT}, for 1 minute")
    request = await world.submit(resources=[bucket], actions=["s3:GetObject"], duration=1)
    statuses = [request.status.value]
    narrator.say(f"request {request.id} stored as {request.status.value}; approvers get a DM")
    dm = await world.approval_dm(APPROVERS[0], request.id)
    narrator.block(dm.flat_text)
    narrator.say("bob clicks Approve")
    await world.click(APPROVERS[0], dm, views.APPROVE_ACTION)
    active = await world.wait_for_status(request.id, Status.ACTIVE, Status.FAILED)
    statuses += ["APPROVED", active.status.value]
    if active.status is not Status.ACTIVE:
        raise RuntimeError(f"the grant failed: {active.failure_reason}")
    policies = await inline_policies(world.clients, account)
    document = policies.get(active.policy_name or "", {})
    narrator.say(f"policy {active.policy_name} is now on role {account.login_role}:")
    narrator.block(json.dumps(document, indent=2))
    told = await world.emulator.wait_for_message(REQUESTER, lambda m: "Access granted" in m.text)
    narrator.say(f"alice is told: {told.text}")
    assert active.expires_at is not None
    wait = max(0.0, (active.expires_at - world.clock()).total_seconds())
    narrator.say(f"waiting {wait:.0f} s for the grant to expire at {iso(active.expires_at)}…")
    expired = await world.wait_for_status(request.id, Status.EXPIRED, timeout=wait + 30)
    statuses.append(expired.status.value)
    remaining = await inline_policies(world.clients, account)
    present = (active.policy_name or "") in remaining
    narrator.say(
        f"sweeper expired it; policy on the role now: {'still there!' if present else 'gone'}"
    )
    events = await world.runtime.store.events(request.id)
    narrator.say("audit trail:")
    for event in events:
        narrator.block(f"{iso(event.at)}  {event.type.value:<14} by {event.actor}")
    return {
        "request_id": request.id,
        "account_id": account.account_id,
        "login_role": account.login_role,
        "policy_name": active.policy_name,
        "policy_document": document,
        "statuses": statuses,
        "audit_events": [{"type": e.type.value, "actor": e.actor, "at": iso(e.at)} for e in events],
        "policy_present_after_expiry": present,
        "elapsed_s": round(time.monotonic() - narrator.started, 1),
    }
