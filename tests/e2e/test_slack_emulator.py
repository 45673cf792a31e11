"""The Slack emulator against the real slack-bolt AsyncApp over a real Socket Mode WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot_sandbox.slack_emulator import AckTimeout, SlackEmulator
from cloud_access_bot_sandbox.slack_people import app_home_opened_payload, view_action_payload
from cloud_access_bot_sandbox.slack_workspace import Workspace

ALICE = "U0ALICE"
BOB = "U0BOB"


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": value}


def option(value: str, label: str | None = None) -> dict[str, Any]:
    return {"text": text(label or value), "value": value}


def modal(blocks: list[dict[str, Any]], callback_id: str = "request_modal") -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": text("Request access"),
        "submit": text("Submit"),
        "blocks": blocks,
    }


def reason_block() -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "reason",
        "label": text("Reason"),
        "element": {"type": "plain_text_input", "action_id": "reason_input"},
    }


def account_block(block_id: str = "account", dispatch: bool = False) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "dispatch_action": dispatch,
        "label": text("Account"),
        "element": {"type": "external_select", "action_id": "account_select"},
    }


def duration_block(block_id: str = "duration") -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": text("Duration"),
        "element": {
            "type": "static_select",
            "action_id": "duration_select",
            "options": [option("15", "15 minutes"), option("60", "1 hour")],
        },
    }


@pytest.fixture
def clock() -> list[float]:
    """A hand-driven clock for trigger expiry."""
    return [1000.0]


@pytest.fixture
async def emulator(clock: list[float]) -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(workspace=Workspace(clock=lambda: clock[0]))
    await emulator.start()
    emulator.add_user(ALICE, "alice", "alice@example.com")
    emulator.add_user(BOB, "bob", "bob@example.com")
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def app(emulator: SlackEmulator) -> AsyncApp:
    client = AsyncWebClient(token=emulator.bot_token, base_url=emulator.api_url)
    return AsyncApp(client=client)


@pytest.fixture
async def handler(app: AsyncApp, emulator: SlackEmulator) -> AsyncIterator[AsyncSocketModeHandler]:
    handler = AsyncSocketModeHandler(app, emulator.app_token, ping_interval=1)
    await asyncio.wait_for(handler.connect_async(), 10)
    await emulator.wait_connected()
    try:
        yield handler
    finally:
        await handler.close_async()


async def test_slash_command_opens_modal_and_submission_errors_come_back(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    submitted: list[dict[str, Any]] = []

    @app.command("/request")
    async def open_modal(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(
            trigger_id=body["trigger_id"], view=modal([reason_block(), duration_block()])
        )

    @app.view("request_modal")
    async def submit(ack: Any, view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        submitted.append(values)
        if len(values["reason"]["reason_input"]["value"] or "") < 5:
            await ack(response_action="errors", errors={"reason": "Say a bit more"})
        else:
            await ack()

    assert await emulator.slash_command(ALICE, "/request") == {}
    view = await emulator.wait_for_view(ALICE, "request_modal")
    await view.fill("reason_input", "db")
    assert await view.select("duration_select", "60") is None  # no dispatch_action: no envelope

    answer = await view.submit()

    assert answer == {"response_action": "errors", "errors": {"reason": "Say a bit more"}}
    assert view.is_open and view.errors == {"reason": "Say a bit more"}
    assert submitted[0]["duration"]["duration_select"]["selected_option"]["value"] == "60"

    await view.fill("reason_input", "fix the prod database")
    assert await view.submit() == {}
    assert not view.is_open
    assert submitted[1]["reason"]["reason_input"]["value"] == "fix the prod database"

    kinds = [ack.type for ack in emulator.acks]
    assert kinds == ["slash_commands", "interactive", "interactive"]
    assert all(ack.latency_ms is not None and ack.latency_ms > 0 for ack in emulator.acks)
    assert emulator.calls_to("views.open")[0].response["ok"] is True
    assert emulator.problems == []


async def test_external_select_suggestions_and_cascade_keep_unchanged_inputs(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    accounts = [option("111111111111", "dev"), option("222222222222", "prod")]

    @app.command("/request")
    async def open_modal(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        blocks = [reason_block(), account_block(dispatch=True)]
        await client.views_open(trigger_id=body["trigger_id"], view=modal(blocks))

    @app.options("account_select")
    async def suggest(ack: Any, body: dict[str, Any]) -> None:
        query = body["value"]
        await ack(options=[o for o in accounts if query in o["text"]["text"]])

    @app.action("account_select")
    async def account_chosen(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        view = body["view"]
        chosen = view["state"]["values"]["account"]["account_select"]["selected_option"]
        # The duration block is new, so it starts empty; reason and account keep their values.
        blocks = [reason_block(), account_block(dispatch=True), duration_block(chosen["value"])]
        await client.views_update(view_id=view["id"], hash=view["hash"], view=modal(blocks))

    await emulator.slash_command(ALICE, "/request")
    view = await emulator.wait_for_view(ALICE)
    await view.fill("reason_input", "deploy hotfix")

    answer = await view.suggest("account_select", "pro")

    assert answer == {"options": [option("222222222222", "prod")]}
    assert await view.select("account_select", "222222222222") == {}
    await view.wait_updated()
    values = view.values
    assert values["reason"]["reason_input"]["value"] == "deploy hotfix"
    assert values["account"]["account_select"]["selected_option"]["value"] == "222222222222"
    assert values["222222222222"]["duration_select"]["selected_option"] is None
    assert emulator.problems == []


async def test_button_click_on_a_dm_reaches_the_app_and_the_message_is_updated(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    @app.command("/request")
    async def post_request(ack: Any, client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postMessage(
            channel=BOB,
            text="Alice asks for access",
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Alice* asks for S3"}},
                {
                    "type": "actions",
                    "block_id": "decide",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "approve",
                            "text": text("Approve"),
                            "value": "req-1",
                        },
                        {"type": "button", "action_id": "deny", "text": text("Deny")},
                    ],
                },
            ],
        )

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        action = body["actions"][0]
        await client.chat_update(
            channel=body["container"]["channel_id"],
            ts=body["container"]["message_ts"],
            text=f"{action['value']} approved by <@{body['user']['id']}>",
            blocks=[],
        )

    await emulator.slash_command(ALICE, "/request")
    message = await emulator.wait_for_message(BOB)
    assert message.channel == emulator.dm_channel(BOB)
    assert "*Alice* asks for S3" in message.flat_text

    assert await emulator.click(BOB, message, "approve") == {}

    await emulator.wait_until(lambda: "approved" in message.flat_text)
    assert message.flat_text == f"req-1 approved by <@{BOB}>"
    assert len(message.history) == 1
    assert emulator.latest_message_to(BOB) is message


async def test_app_reconnects_after_disconnect_close_and_rate_limited_connect(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    @app.command("/ping")
    async def ping(ack: Any, body: dict[str, Any]) -> None:
        await ack(text=f"pong {body['text']}")

    opened = emulator.connections_opened
    await emulator.disconnect("refresh_requested")
    await emulator.wait_connected(total=opened + 1)
    assert await emulator.slash_command(ALICE, "/ping", "1") == {"text": "pong 1"}

    emulator.fail_connections_open(1, "ratelimited", retry_after=0)
    await emulator.close_socket()
    await emulator.wait_connected(total=opened + 2)
    assert await emulator.slash_command(ALICE, "/ping", "2") == {"text": "pong 2"}

    statuses = [call.status for call in emulator.calls_to("apps.connections.open")]
    assert statuses == [200, 200, 429, 200]
    assert emulator.connection_count == 1


async def test_views_open_needs_a_fresh_unused_trigger(
    app: AsyncApp, emulator: SlackEmulator, clock: list[float]
) -> None:
    view = modal([reason_block()])
    stale = emulator.workspace.issue_trigger(ALICE)
    clock[0] += 3.5
    fresh = emulator.workspace.issue_trigger(ALICE)

    with pytest.raises(SlackApiError) as expired:
        await app.client.views_open(trigger_id=stale, view=view)
    opened = await app.client.views_open(trigger_id=fresh, view=view)
    with pytest.raises(SlackApiError) as reused:
        await app.client.views_open(trigger_id=fresh, view=view)

    assert expired.value.response["error"] == "expired_trigger_id"
    assert opened["view"]["id"] == emulator.modal(ALICE).id  # type: ignore[union-attr]
    assert reused.value.response["error"] == "trigger_exchanged"


async def test_views_update_with_a_stale_hash_is_a_conflict(
    app: AsyncApp, emulator: SlackEmulator
) -> None:
    trigger = emulator.workspace.issue_trigger(ALICE)
    opened = (await app.client.views_open(trigger_id=trigger, view=modal([reason_block()])))["view"]

    first = await app.client.views_update(
        view_id=opened["id"], hash=opened["hash"], view=modal([duration_block()])
    )
    with pytest.raises(SlackApiError) as conflict:
        await app.client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([]))
    with pytest.raises(SlackApiError) as missing:
        await app.client.views_update(view_id="V0NOPE", view=modal([]))

    assert first["view"]["hash"] != opened["hash"]
    assert conflict.value.response["error"] == "hash_conflict"
    assert missing.value.response["error"] == "not_found"


DIVIDER = {"type": "divider"}
LONG_OPTION = {
    "type": "actions",
    "elements": [{"type": "static_select", "action_id": "pick", "options": [option("v" * 76)]}],
}


def home(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks}


@pytest.mark.parametrize(
    ("method", "kwargs", "error"),
    [
        ("views_publish", {"user_id": ALICE, "view": home([DIVIDER] * 101)}, "invalid_arguments"),
        (
            "views_publish",
            {"user_id": ALICE, "view": home([LONG_OPTION])},
            "invalid_arguments",
        ),
        ("views_publish", {"user_id": "U0NOBODY", "view": home([])}, "user_not_found"),
        (
            "chat_postMessage",
            {"channel": ALICE, "text": "hi", "blocks": [DIVIDER] * 51},
            "invalid_blocks",
        ),
        ("chat_update", {"channel": ALICE, "ts": "1.000001", "text": "x"}, "message_not_found"),
        ("conversations_open", {"users": "U0NOBODY"}, "user_not_found"),
        ("users_info", {"user": "U0NOBODY"}, "user_not_found"),
        ("api_call", {"api_method": "no.such.method"}, "unknown_method"),
    ],
)
async def test_web_api_rejects_what_slack_rejects(
    app: AsyncApp, emulator: SlackEmulator, method: str, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as rejected:
        await getattr(app.client, method)(**kwargs)

    assert rejected.value.response["error"] == error
    assert emulator.calls[-1].response["ok"] is False


async def test_directory_methods_answer_from_workspace_state(
    app: AsyncApp, emulator: SlackEmulator
) -> None:
    group_id = emulator.add_usergroup("devops", [ALICE])
    emulator.set_usergroup_members("devops", [ALICE, BOB])
    emulator.add_user("U0GONE", "gone", "gone@example.com", deleted=True)

    groups = await app.client.usergroups_list(include_users=True)
    members = await app.client.usergroups_users_list(usergroup=group_id)
    bob = await app.client.users_lookupByEmail(email="BOB@example.com")
    gone = await app.client.users_info(user="U0GONE")
    dm = await app.client.conversations_open(users=ALICE)
    with pytest.raises(SlackApiError) as no_group:
        await app.client.usergroups_users_list(usergroup="S0NOPE")
    with pytest.raises(SlackApiError) as no_user:
        await app.client.users_lookupByEmail(email="nobody@example.com")

    assert groups["usergroups"][0]["handle"] == "devops"
    assert groups["usergroups"][0]["users"] == [ALICE, BOB]
    assert members["users"] == [ALICE, BOB]
    assert bob["user"]["id"] == BOB
    assert gone["user"]["deleted"] is True
    assert gone["user"]["profile"]["email"] == "gone@example.com"
    assert dm["channel"]["id"] == emulator.dm_channel(ALICE)
    assert no_group.value.response["error"] == "no_such_subteam"
    assert no_user.value.response["error"] == "users_not_found"


async def test_app_home_and_rate_limit(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    @app.event("app_home_opened")
    async def publish_home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "No requests"}}],
            },
        )

    assert await emulator.app_home_opened(ALICE) == {}
    home_view = await emulator.wait_for_home(ALICE)
    assert home_view.text == "No requests"

    emulator.set_rate_limit("auth.test", 1)
    await app.client.auth_test()
    with pytest.raises(SlackApiError) as limited:
        await app.client.auth_test()
    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"


async def test_duplicate_delivery_is_delivered_twice_and_a_missing_ack_times_out(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    seen: list[str] = []

    @app.event("app_home_opened")
    async def record(body: dict[str, Any]) -> None:
        seen.append(body["event_id"])

    payload = app_home_opened_payload(emulator.workspace, ALICE, "Ev0DUP")
    first = await emulator.send_envelope("events_api", payload, envelope_id="dup-1")
    second = await emulator.send_envelope(
        "events_api", payload, envelope_id="dup-1", retry_attempt=1, retry_reason="timeout"
    )
    await emulator.wait_until(lambda: len(seen) == 2)
    published = await app.client.views_publish(user_id=ALICE, view=home([DIVIDER]))
    unhandled = view_action_payload(
        emulator.workspace,
        emulator.workspace.views[published["view"]["id"]],
        {"type": "button", "action_id": "nobody_listens", "block_id": "b", "value": "v"},
        emulator.workspace.issue_trigger(ALICE),
    )
    with pytest.raises(AckTimeout):
        await emulator.send_envelope("interactive", unhandled, timeout=0.5)

    assert (first.envelope_id, second.envelope_id) == ("dup-1", "dup-1")
    assert seen == ["Ev0DUP", "Ev0DUP"]
    assert [ack.envelope_id for ack in emulator.acks] == ["dup-1", "dup-1"]


async def test_respond_posts_ephemerals_and_replaces_the_clicked_message(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    @app.command("/hello")
    async def hello(ack: Any, respond: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await respond("only you see this")
        button = {"type": "button", "action_id": "deny", "text": text("Deny"), "value": "r1"}
        await client.chat_postMessage(
            channel=body["user_id"],
            text="decide",
            blocks=[{"type": "actions", "elements": [button]}],
        )

    @app.action("deny")
    async def deny(ack: Any, respond: Any) -> None:
        await ack()
        await respond(replace_original=True, text="Denied")

    await emulator.slash_command(ALICE, "/hello")
    message = await emulator.wait_for_message(ALICE)
    await emulator.click(ALICE, message, "deny", value="r1")
    await emulator.wait_until(lambda: message.text == "Denied")

    assert [e.text for e in emulator.ephemerals_to(ALICE)] == ["only you see this"]
    assert emulator.responses[-1].message_ts == message.ts
    assert message.blocks == [] and message.history[0]["text"] == "decide"


async def test_submission_answers_update_push_and_clear_the_modal_stack(
    app: AsyncApp, emulator: SlackEmulator, handler: AsyncSocketModeHandler
) -> None:
    @app.command("/request")
    async def open_modal(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=modal([reason_block()], "one"))

    @app.view("one")
    async def one(ack: Any) -> None:
        await ack(response_action="update", view=modal([reason_block()], "two"))

    @app.view("two")
    async def two(ack: Any) -> None:
        await ack(response_action="push", view=modal([duration_block()], "three"))

    @app.view("three")
    async def three(ack: Any) -> None:
        await ack(response_action="clear")

    await emulator.slash_command(ALICE, "/request")
    first = await emulator.wait_for_view(ALICE, "one")
    await first.fill("reason_input", "kept across the update")
    await first.submit()
    assert first.callback_id == "two"
    assert first.values["reason"]["reason_input"]["value"] == "kept across the update"
    await first.submit()
    pushed = await emulator.wait_for_view(ALICE, "three")
    assert pushed.view.previous_view_id == first.id
    await pushed.select("duration_select", "15")
    await pushed.submit()

    assert not first.is_open and not pushed.is_open and emulator.modal(ALICE) is None
    assert emulator.problems == []


async def test_channels_list_and_page_their_members_as_slack_does(
    app: AsyncApp, emulator: SlackEmulator
) -> None:
    people = [f"U0P{i:03d}" for i in range(5)]
    approvers = emulator.add_channel("prod-approvers", people)
    emulator.add_channel("secret", [ALICE], private=True, bot_member=False)
    hidden = emulator.workspace.channel("secret").id

    listed = [
        c["name"]
        async for page in await app.client.conversations_list(
            types="public_channel,private_channel", limit=1
        )
        for c in page["channels"]
    ]
    members = [
        m
        async for page in await app.client.conversations_members(channel=approvers, limit=2)
        for m in page["members"]
    ]
    first = await app.client.conversations_members(channel=approvers, limit=2)
    errors = {}
    for name, call in {
        "private, bot not invited": app.client.conversations_members(channel=hidden),
        "bad cursor": app.client.conversations_members(channel=approvers, cursor="nope"),
        "bad limit": app.client.conversations_members(channel=approvers, limit=5000),
        "a DM": app.client.conversations_members(channel=emulator.dm_channel(ALICE)),
    }.items():
        with pytest.raises(SlackApiError) as refused:
            await call
        errors[name] = refused.value.response["error"]

    assert listed == ["prod-approvers"], "a private channel the bot is not in is not listed"
    assert members == [*people, emulator.workspace.bot_user_id]
    assert first["response_metadata"]["next_cursor"]
    assert errors == {
        "private, bot not invited": "channel_not_found",
        "bad cursor": "invalid_cursor",
        "bad limit": "invalid_limit",
        "a DM": "method_not_supported_for_channel_type",
    }


async def test_the_bot_posts_only_where_it_is_a_member_and_ephemerals_reach_members(
    app: AsyncApp, emulator: SlackEmulator
) -> None:
    inside = emulator.add_channel("sre-approvals", [ALICE])
    outside = emulator.add_channel("general", [ALICE, BOB], bot_member=False)

    card = await app.client.chat_postMessage(channel=inside, text="card")
    reply = await app.client.chat_postMessage(channel=inside, text="step", thread_ts=card["ts"])
    await app.client.chat_postEphemeral(channel=inside, user=ALICE, text="only you")
    with pytest.raises(SlackApiError) as not_in_channel:
        await app.client.chat_postMessage(channel=outside, text="card")
    with pytest.raises(SlackApiError) as not_a_member:
        await app.client.chat_postEphemeral(channel=inside, user=BOB, text="only you")

    assert reply["message"]["thread_ts"] == card["ts"]
    assert [e.text for e in emulator.ephemerals_to(ALICE)] == ["only you"]
    assert not_in_channel.value.response["error"] == "not_in_channel"
    assert not_a_member.value.response["error"] == "user_not_in_channel"
