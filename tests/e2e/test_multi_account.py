"""One request over several accounts, through real Socket Mode, the emulator and moto: one
approval card, one grant per account (each ending on its own), a failing account leaving the
others granted, and forged extra accounts refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud_access_bot.audit.commands import answer, cli_output, slack_parser
from cloud_access_bot.audit.matching import policy_statements
from cloud_access_bot.audit.slack_text import audit_command_text
from cloud_access_bot.domain.model import AccessRequest, Status, utcnow
from cloud_access_bot.slack import batch_views, views
from cloud_access_bot_sandbox.aws import SeededAccount, inline_policies, seed_account
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    LOGIN_ROLE,
    REQUESTER,
    Sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_blocks import flatten_text
from cloud_access_bot_sandbox.slack_workspace import Message

BOB, CAROL = APPROVERS
DAVE = "U0DAVE"
STAGING = ("staging", "333333333333")
#: Configured, but its login role was never created: every grant there fails.
BROKEN = ("broken", "444444444444")


def account_entry(number: str, **extra: Any) -> dict[str, Any]:
    return {
        "account_number": number,
        "iam_role": f"arn:aws:iam::{number}:role/cloud-access-bot",
        **extra,
    }


async def with_accounts(world: Sandbox, *more: tuple[str, str], **entries: Any) -> None:
    """Configure the sandbox's accounts plus ``more`` (staging is seeded in moto; broken is
    not), and ``entries`` overriding any account's settings."""
    accounts = {name: account_entry(number) for name, number in [*ACCOUNTS.items(), *more]}
    accounts.update(entries)
    world.config = sandbox_config(accounts=accounts)
    if STAGING in more:
        world.accounts["staging"] = await seed_staging(world)


async def seed_staging(world: Sandbox) -> SeededAccount:
    return await seed_account(
        world.clients,
        name=STAGING[0],
        account_id=STAGING[1],
        login_role=LOGIN_ROLE,
        buckets=("acme-staging-exports",),
        tables=(),
    )


async def batch_of(world: Sandbox, **fields: Any) -> list[AccessRequest]:
    """Submit through the modal and return the batch's requests, in order."""
    submitted = await world.submit(**fields)
    assert len(submitted.batch) > 1, "the submission did not make a batch"

    async def stored() -> list[AccessRequest] | None:
        # The submission's requests are stored one after the other: wait for all of them.
        found = [await world.store.get(request_id) for request_id in submitted.batch]
        return [r for r in found if r is not None] if all(found) else None

    requests: list[AccessRequest] = await world.wait_for(stored, "every request of the batch")
    return requests


async def card(world: Sandbox, approver: str, batch_id: str) -> Any:
    return await world.emulator.wait_for_message(
        approver, lambda m: batch_id in m.flat_text and "Approve" in m.flat_text
    )


async def three_account_batch(world: Sandbox) -> list[AccessRequest]:
    await with_accounts(world, STAGING)
    return await three_account_batch_submitted(world)


async def three_account_batch_submitted(world: Sandbox) -> list[AccessRequest]:
    return await batch_of(
        world,
        also_accounts=["production", "staging"],
        resources=["acme-development-exports", "acme-production-exports", "acme-staging-exports"],
    )


async def test_three_accounts_one_card_one_approval_three_grants(world: Sandbox) -> None:
    requests = await three_account_batch(world)
    assert [r.account_name for r in requests] == ["development", "production", "staging"]
    # Resources per account: each request holds only its own account's bucket.
    for request in requests:
        assert request.services[0].resources == (
            f"arn:aws:s3:::acme-{request.account_name}-exports",
        )
    batch_id = requests[0].id
    bob_card = await card(world, BOB, batch_id)
    assert all(r.account_name in bob_card.flat_text for r in requests)
    # One card for the batch: no approver DM per account.
    for request in requests[1:]:
        assert not any(
            f"*Access request* `{request.id}`" in m.flat_text
            for m in world.emulator.messages_to(BOB)
        )

    await world.click(BOB, bob_card, batch_views.APPROVE_BATCH_ACTION)

    for request in requests:
        active = await world.wait_for_status(request.id, Status.ACTIVE)
        policies = await inline_policies(world.clients, world.accounts[request.account_name])
        document = policies[active.policy_name or ""]
        resources = {r for s in policy_statements(document) for r in s.resources}
        assert resources == {f"arn:aws:s3:::acme-{request.account_name}-exports/*"}
    updated = await world.emulator.wait_for_message(
        BOB, lambda m: batch_id in m.flat_text and "Revoke in staging" in m.flat_text
    )
    assert "Approve" not in updated.flat_text
    # One audit history: `/request audit show` of the batch shows every account's events.
    slack = await audit_command_text(
        ["show", batch_id], store=world.store, config=world.config, now=utcnow()
    )
    assert "3 accounts (development ACTIVE, production ACTIVE, staging ACTIVE)" in slack
    parsed = slack_parser("request").parse_args(["show", batch_id])
    found = await answer(parsed, store=world.store, config=world.config, now=utcnow())
    _, shown = cli_output(found, "table")
    for request in requests:
        assert f"request     {request.id}  ACTIVE" in shown
    assert shown.count("GRANTED") == 3


async def test_one_account_failing_leaves_the_others_granted_and_is_told(world: Sandbox) -> None:
    await with_accounts(world, BROKEN)
    # A bucket in the broken account (found by discovery), but no login role to grant on.
    async with world.clients.assumed("s3", account_entry(BROKEN[1])["iam_role"]) as s3:
        await s3.create_bucket(
            Bucket="acme-broken-exports",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
    requests = await batch_of(
        world,
        also_accounts=["production", "broken"],
        resources=["acme-development-exports", "acme-production-exports", "acme-broken-exports"],
    )
    batch_id = requests[0].id

    await world.click(BOB, await card(world, BOB, batch_id), batch_views.APPROVE_BATCH_ACTION)

    development, production, broken = requests
    await world.wait_for_status(development.id, Status.ACTIVE)
    await world.wait_for_status(production.id, Status.ACTIVE)
    failed = await world.wait_for_status(broken.id, Status.FAILED)
    assert failed.failure_reason
    for person in (REQUESTER, BOB, CAROL):
        told = await world.emulator.wait_for_message(
            person, lambda m: batch_id in m.text and "broken: the grant FAILED" in m.text
        )
        assert "development: access granted" in told.text
        assert "production: access granted" in told.text
    for name in ("development", "production"):
        assert await inline_policies(world.clients, world.accounts[name])


async def test_revoking_one_account_ends_only_that_one(world: Sandbox) -> None:
    requests = await three_account_batch(world)
    await world.click(BOB, await card(world, BOB, requests[0].id), batch_views.APPROVE_BATCH_ACTION)
    for request in requests:
        await world.wait_for_status(request.id, Status.ACTIVE)
    staging = requests[2]
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: staging.id in m.flat_text and "I'm done" in m.flat_text
    )

    await world.click(REQUESTER, mine, views.REVOKE_ACTION)

    await world.wait_for_status(staging.id, Status.REVOKED)
    assert await inline_policies(world.clients, world.accounts["staging"]) == {}
    for request in requests[:2]:
        assert await world.store.get(request.id) is not None
        assert (await world.wait_for_status(request.id, Status.ACTIVE)).status is Status.ACTIVE
        assert await inline_policies(world.clients, world.accounts[request.account_name])


async def test_a_click_approves_only_the_accounts_the_clicker_approves(world: Sandbox) -> None:
    """Bob approves development and staging, not production (sre's): his click on the card
    grants his two and leaves production to sre, who needs 2 approvals there — on every
    account of the batch (the strictest rule)."""
    world.emulator.add_usergroup("sre", [CAROL, DAVE], name="SRE")
    world.emulator.add_user(DAVE, name="dave", email="dave@example.com")
    sre = account_entry(ACCOUNTS["production"], approval_groups=["sre"], approvals_required=2)
    await with_accounts(world, STAGING, production=sre)
    requests = await three_account_batch_submitted(world)
    assert {r.approvals_required for r in requests} == {2}
    development, production, staging = requests

    await world.click(BOB, await card(world, BOB, development.id), batch_views.APPROVE_BATCH_ACTION)
    await world.click(
        CAROL, await card(world, CAROL, development.id), batch_views.APPROVE_BATCH_ACTION
    )

    await world.wait_for_status(development.id, Status.ACTIVE)
    await world.wait_for_status(staging.id, Status.ACTIVE)
    waiting = await world.store.get(production.id)
    assert waiting is not None and waiting.status is Status.PENDING
    assert waiting.approvals == (CAROL,)
    await world.emulator.wait_for_message(
        BOB, lambda m: "production: waiting for an approver of production" in m.text
    )
    await world.click(
        DAVE, await card(world, DAVE, development.id), batch_views.APPROVE_BATCH_ACTION
    )
    await world.wait_for_status(production.id, Status.ACTIVE)


async def test_another_accounts_banner_and_ticket_apply_to_the_whole_request(
    world: Sandbox,
) -> None:
    """production (picked second) shows its banner in the form and on the card, and its
    ticket requirement applies to the request: refused without, stored on every account."""
    strict = account_entry(
        ACCOUNTS["production"], ticket_pattern="^CHG-\\d+$", warning="Production: customers"
    )
    await with_accounts(world, STAGING, production=strict)
    fields: dict[str, Any] = {
        "also_accounts": ["production"],
        "resources": ["acme-development-exports", "acme-production-exports"],
    }
    ack = await world.request(**fields)
    assert ack.get("response_action") == "errors"
    assert "production: " in " ".join(ack["errors"].values())
    modal = world.emulator.top_view(REQUESTER)
    assert modal is not None
    shown = flatten_text(world.emulator.workspace.views[modal].blocks)
    assert "production: Production: customers" in shown and "Ticket or change id" in shown

    requests = await batch_of(world, ticket="CHG-42", **fields)

    assert [r.ticket for r in requests] == ["CHG-42", "CHG-42"]
    bob_card = await card(world, BOB, requests[0].id)
    assert "production: Production: customers" in bob_card.flat_text
    assert "CHG-42" in bob_card.flat_text


async def test_forged_extra_accounts_are_refused(world: Sandbox) -> None:
    # production may be requested only by carol: the picker does not offer it to alice, who
    # forges it into her submission.
    await with_accounts(
        world,
        STAGING,
        production=account_entry(ACCOUNTS["production"], eligibility={"users": [CAROL]}),
    )
    before = await world.store.for_user(REQUESTER, limit=50)
    forged = {"text": {"type": "plain_text", "text": "production"}, "value": "production"}
    await world.request(
        also_accounts=[forged], resources=["acme-development-exports", "acme-production-exports"]
    )
    await world.emulator.wait_for_message(
        REQUESTER, lambda m: "not stored" in m.text and "production" in m.text
    )
    unknown = {"text": {"type": "plain_text", "text": "secret"}, "value": "secret"}
    ack = await world.request(also_accounts=[unknown], resources=["acme-development-exports"])
    assert ack.get("response_action") == "errors"
    assert "Unknown account 'secret'" in " ".join(ack["errors"].values())
    assert await world.store.for_user(REQUESTER, limit=50) == before


async def test_more_accounts_than_allowed_are_refused_inline(world: Sandbox) -> None:
    await with_accounts(world, STAGING)
    world.config = world.config.model_copy(update={"max_accounts_per_request": 2})
    ack = await world.request(
        also_accounts=["production", "staging"], resources=["acme-development-exports"]
    )
    assert ack.get("response_action") == "errors"
    assert "at most 2 accounts; 3 were picked" in " ".join(ack["errors"].values())


async def test_a_typed_arn_of_another_account_is_refused(world: Sandbox) -> None:
    """An ARN of an account outside the request is never granted in one of its accounts."""
    await with_accounts(world, STAGING)
    outside = "arn:aws:dynamodb:eu-west-1:999999999999:table/orders"
    ack = await world.request(
        also_accounts=["production"],
        service="dynamodb",
        actions=["dynamodb:GetItem"],
        arns=[outside, f"arn:aws:dynamodb:eu-west-1:{ACCOUNTS['production']}:table/orders"],
    )
    assert ack.get("response_action") == "errors"
    assert "999999999999, which is not one of this request's accounts" in " ".join(
        ack["errors"].values()
    )


def ends_from_the_dm(request_id: str) -> Callable[[Message], bool]:
    """The requester's message about ``request_id`` with its "I'm done – revoke" button."""
    return lambda m: request_id in m.flat_text and "I'm done – revoke" in m.flat_text


async def refused_batch(world: Sandbox, words: str) -> str:
    """Ask for development and production together: the refusal's text (with ``words``),
    after checking that nothing was stored."""
    await world.request(
        also_accounts=["production"],
        resources=["acme-development-exports", "acme-production-exports"],
    )
    refusal = await world.emulator.wait_for_message(REQUESTER, lambda m: words in m.flat_text)
    assert await world.store.for_user(REQUESTER) == []
    return refusal.flat_text


async def test_a_missing_approval_channel_refuses_a_batch_only_when_a_person_must_decide(
    world: Sandbox,
) -> None:
    """Development and staging post to an approval channel the bot cannot find: a batch of
    the two, both auto-approved, goes through; one with production (a person decides) is
    refused, naming development, although development alone would have been auto-approved."""
    await with_accounts(world, STAGING)
    unposted = {"approval_channel": "#no-such-channel", "approval_dms": False}
    accounts = {name: account_entry(number) for name, number in [*ACCOUNTS.items(), STAGING]}
    for name in ("development", "staging"):
        accounts[name] = account_entry(accounts[name]["account_number"], **unposted)
    world.config = sandbox_config(
        accounts=accounts,
        auto_approve=[
            {
                "accounts": ["development", "staging"],
                "access_levels": ["List", "Read"],
                "max_duration_minutes": 60,
            }
        ],
    )
    refusal = await refused_batch(world, "which I cannot find")
    assert "Requests for development are posted to the channel #no-such" in refusal

    requests = await batch_of(
        world,
        also_accounts=["staging"],
        resources=["acme-development-exports", "acme-staging-exports"],
    )

    for request in requests:
        active = await world.wait_for_status(request.id, Status.ACTIVE)
        assert active.decided_by == "cloud-access-bot"
        # Each account's grant can be ended on its own from the requester's message.
        await world.emulator.wait_for_message(REQUESTER, ends_from_the_dm(request.id))


async def test_a_batch_reaches_every_accounts_approval_channel_and_threads_each_step(
    world: Sandbox,
) -> None:
    """development's card goes to #dev-approvals, production's to #prod-approvals (no DMs
    for either): the batch's one card is posted in both channels, an approver in either one
    approves, and each channel's card gets a threaded reply per account for each step."""
    dev_channel = world.emulator.add_channel("dev-approvals", [BOB])
    prod_channel = world.emulator.add_channel("prod-approvals", [CAROL])
    channel_only = {"approval_dms": False}
    await with_accounts(
        world,
        development=account_entry(
            ACCOUNTS["development"], approval_channel="#dev-approvals", **channel_only
        ),
        production=account_entry(
            ACCOUNTS["production"], approval_channel="#prod-approvals", **channel_only
        ),
    )
    requests = await batch_of(
        world,
        also_accounts=["production"],
        resources=["acme-development-exports", "acme-production-exports"],
    )
    batch_id = requests[0].id

    def card_in(channel: str) -> Any:
        return next(
            (m for m in world.emulator.messages_in(channel) if batch_id in m.flat_text), None
        )

    dev_card = await world.emulator.wait_until(lambda: card_in(dev_channel))
    prod_card = await world.emulator.wait_until(lambda: card_in(prod_channel))
    assert not any(batch_id in m.flat_text for m in world.emulator.messages_to(BOB))

    await world.click(CAROL, prod_card, batch_views.APPROVE_BATCH_ACTION)

    for request in requests:
        await world.wait_for_status(request.id, Status.ACTIVE)
    for channel, posted in ((dev_channel, dev_card), (prod_channel, prod_card)):

        def replies(channel: str = channel, posted: Any = posted) -> list[str]:
            return [m.text for m in world.emulator.messages_in(channel) if m.thread_ts == posted.ts]

        await world.emulator.wait_until(lambda: len(replies()) >= 4)
        for name in ("development", "production"):
            assert any(f"{name}: " in r and f"Approved by <@{CAROL}>" in r for r in replies())
            assert any(f"{name}: " in r and "Active until" in r for r in replies())


async def test_a_batch_stored_partway_is_finished_by_the_same_submission_delivered_again(
    world: Sandbox,
) -> None:
    """The bot stops after storing the first account's request (the store fails on the
    second, as a crash would leave it); Slack delivers the same submission again: the rest
    is stored and one card is posted, then once more changes nothing."""
    await with_accounts(world, STAGING)
    store = world.runtime.store
    real_create = store.create
    creates = 0

    async def crash_at_the_second(*args: Any, **kwargs: Any) -> AccessRequest:
        nonlocal creates
        creates += 1
        if creates == 2:
            raise RuntimeError("the process stopped here")
        return await real_create(*args, **kwargs)

    store.create = crash_at_the_second  # type: ignore[method-assign]
    await world.request(
        also_accounts=["production", "staging"],
        resources=["acme-development-exports", "acme-production-exports", "acme-staging-exports"],
    )
    submission = next(
        e
        for e in reversed(world.emulator.envelopes)
        if e["payload"].get("type") == "view_submission"
    )
    first = await world.wait_for(
        lambda: world.store.for_user(REQUESTER), "the first account's request"
    )
    await world.emulator.wait_until(lambda: creates >= 2)
    assert len(first) == 1 and len(first[0].batch) == 3
    assert not any(first[0].id in m.flat_text for m in world.emulator.messages_to(BOB))
    store.create = real_create  # type: ignore[method-assign]

    for attempt in (1, 2):
        await world.emulator.send_envelope(
            "interactive",
            submission["payload"],
            envelope_id=submission["envelope_id"],
            retry_attempt=attempt,
            retry_reason="timeout",
        )
        requests = await world.wait_for(
            lambda: _all_stored(world, first[0].batch), "every request of the batch"
        )
        bob_card = await card(world, BOB, first[0].id)
        assert all(r.account_name in bob_card.flat_text for r in requests)

    await world.click(BOB, bob_card, batch_views.APPROVE_BATCH_ACTION)
    for request in requests:
        await world.wait_for_status(request.id, Status.ACTIVE)
    await world.emulator.wait_for_message(BOB, lambda m: "Revoke in staging" in m.flat_text)
    cards = [m for m in world.emulator.messages_to(BOB) if "Revoke in staging" in m.flat_text]
    assert len(cards) == 1, "one card, however often the submission arrived"


async def _all_stored(world: Sandbox, ids: tuple[str, ...]) -> list[AccessRequest] | None:
    found = [await world.store.get(request_id) for request_id in ids]
    return [r for r in found if r is not None] if all(found) else None


async def test_a_batch_needing_more_approvals_than_an_accounts_approvers_can_give_is_refused(
    world: Sandbox,
) -> None:
    """Production asks for three approvals and has three approvers; development's two
    (devops) could never give the three the batch needs of each of its requests."""
    world.emulator.workspace.add_user(DAVE, name="dave", email="dave@example.com")
    await with_accounts(
        world,
        production=account_entry(
            ACCOUNTS["production"], approvers=[BOB, CAROL, DAVE], approvals_required=3
        ),
    )

    refusal = await refused_batch(world, "not stored")
    assert "development: This request for development needs 3 approvals" in refusal
    assert "only 2 people other than you" in refusal
    assert "production:" not in refusal


async def test_a_batch_takes_the_shortest_maximum_of_its_accounts(world: Sandbox) -> None:
    """Development allows an hour and production 15 minutes: an hour over both is refused in
    the modal, naming production, and nothing is stored; 15 minutes over both is stored."""
    await with_accounts(
        world, production=account_entry(ACCOUNTS["production"], max_duration_minutes=15)
    )
    resources = ["acme-development-exports", "acme-production-exports"]
    ack = await world.request(also_accounts=["production"], resources=resources, duration=60)
    assert ack["response_action"] == "errors", ack
    problem = " ".join(ack["errors"].values())
    assert "longer than the 15-minute maximum for production" in problem, problem
    assert await world.store.for_user(REQUESTER) == []

    requests = await batch_of(world, also_accounts=["production"], resources=resources, duration=15)
    assert [r.duration_minutes for r in requests] == [15, 15]


async def test_one_click_on_a_card_asks_slack_once_per_group_at_a_time(world: Sandbox) -> None:
    """Each account's request is judged at the click (the approvers now, the requester still
    active), all at once: those judging at the same moment share one read of the approvers'
    group and of the requester, so a card over many accounts stays within Slack's tier-2
    limits (about 20 calls a minute) instead of making two calls per account."""
    requests = await three_account_batch(world)
    bob_card = await card(world, BOB, requests[0].id)
    members, people = (
        len(world.emulator.calls_to(m)) for m in ("usergroups.users.list", "users.info")
    )

    await world.click(BOB, bob_card, batch_views.APPROVE_BATCH_ACTION)
    for request in requests:
        await world.wait_for_status(request.id, Status.ACTIVE)

    # Two moments judge the requests: who may approve them, then each approval.
    assert len(world.emulator.calls_to("usergroups.users.list")) - members <= 2
    assert len(world.emulator.calls_to("users.info")) - people <= 2
