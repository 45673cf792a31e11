"""Malformed and hostile payloads through real Socket Mode: the bot acks every one in time,
keeps working, stores nothing inconsistent and never echoes mentions unescaped.

Hypothesis generates the payloads (mutations of real ones: keys dropped, values replaced by
other JSON, huge or odd unicode strings, mentions, forged ids and metadata; typed resource
strings, forged option values and reasons); they are then all delivered to one running bot,
which must still serve a normal request afterwards and never grant outside the allowed set.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_access_bot.audit.matching import policy_statements
from cloud_access_bot.domain.arns import parse_arn
from cloud_access_bot.domain.model import Status
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    LOGIN_ROLE,
    OUTSIDER,
    REQUESTER,
    Sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_emulator import AckTimeout
from cloud_access_bot_sandbox.slack_people import (
    action_json,
    find_element,
    message_action_payload,
    view_submission_payload,
)
from tests.reliability.reliability_kit import BOB, full_flow, submit
from tests.summary import FIGURES

EXAMPLES = 30
MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0BOB>", "<#C123>", "*bold* `x` ```")
hostile_text = st.one_of(
    st.text(max_size=50),
    st.sampled_from(MENTIONS).map(lambda m: f"why: {m} please"),
    st.text(min_size=1, max_size=3).map(lambda t: t * 5000),
    st.sampled_from(["0" * 12, "../../etc", "abcdef012345", '{"account":"production"}', "\x00"]),
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | hostile_text,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside a JSON value."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return found
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with a few keys dropped or replaced by hostile JSON."""
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        candidates = paths(payload)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_value)
    return payload


def generate(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """EXAMPLES values drawn by hypothesis (explicit examples of the worst cases first)."""
    drawn: list[Any] = []

    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


async def deliver_all(world: Sandbox, kind: str, payloads: list[dict[str, Any]]) -> list[str]:
    """Send each payload; the envelopes that were never acked."""
    unacked = []
    for payload in payloads:
        FIGURES.fuzzed += 1
        try:
            await world.emulator.send_envelope(kind, payload, timeout=3.5)
        except AckTimeout:
            unacked.append(
                json.dumps(
                    {
                        k: v
                        for k, v in payload.items()
                        if k
                        in ("command", "text", "type", "user_id", "trigger_id", "actions", "view")
                    }
                )[:400]
            )
    assert await world.runtime.inflight.wait_idle(30), "the bot is still busy with the payloads"
    return unacked


def mentions_posted(world: Sandbox) -> list[str]:
    """Posted texts that Slack would render with a raw broadcast mention: the message's
    ``text`` and every mrkdwn text object (``plain_text`` is shown as typed, never parsed)."""
    posted = []
    for call in world.emulator.calls:
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            texts = [str(call.args.get("text") or ""), *mrkdwn_texts(call.args.get("blocks"))]
            posted += [
                text[:300]
                for text in texts
                if any(m in text for m in ("<!channel>", "<!here>", "<!everyone>"))
            ]
    return posted


def mrkdwn_texts(node: Any) -> list[str]:
    if isinstance(node, list):
        return [text for item in node for text in mrkdwn_texts(item)]
    if not isinstance(node, dict):
        return []
    own = [str(node["text"])] if node.get("type") == "mrkdwn" and "text" in node else []
    return own + [text for value in node.values() for text in mrkdwn_texts(value)]


@pytest.mark.slow
async def test_fuzzed_slash_commands(world: Sandbox) -> None:
    await world.emulator.slash_command(REQUESTER, "/request", "help")
    base = world.emulator.envelopes[-1]["payload"]
    payloads = generate(mutated(base)) + generate(
        st.builds(lambda text: {**base, "text": text}, hostile_text)
    )
    assert await deliver_all(world, "slash_commands", payloads) == []
    assert mentions_posted(world) == []
    await full_flow(world)


@pytest.mark.slow
async def test_fuzzed_button_clicks(world: Sandbox) -> None:
    request_id = await submit(world, reason="urgent <!channel> look")
    dm = await world.approval_dm(BOB, request_id)
    block, element = find_element(dm.blocks, views.APPROVE_ACTION)
    base = message_action_payload(
        world.emulator.workspace,
        OUTSIDER,
        dm,
        action_json(block, element),
        trigger_id=world.emulator.workspace.issue_trigger(OUTSIDER),
        response_url=world.emulator.response_url(OUTSIDER, dm.channel, dm.ts),
    )
    forged = st.builds(
        lambda action_id, value, user: {
            **base,
            "user": {"id": user},
            "actions": [{**base["actions"][0], "action_id": action_id, "value": value}],
        },
        st.sampled_from(
            [views.APPROVE_ACTION, views.DENY_ACTION, views.CANCEL_ACTION, views.REVOKE_ACTION]
        ),
        hostile_text,
        st.sampled_from([OUTSIDER, "", "U0NOBODY"]),
    )
    payloads = generate(mutated(base)) + generate(forged)
    assert await deliver_all(world, "interactive", payloads) == []
    assert mentions_posted(world) == []
    assert (await world.runtime.store.get(request_id)).status.value == "PENDING"  # type: ignore[union-attr]
    await full_flow(world)


@pytest.mark.slow
async def test_fuzzed_modal_submissions_and_suggestions(world: Sandbox) -> None:
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.fill(views.REASON_ACTION, "<!channel> now")
    await modal.suggest(views.ACCOUNT_ACTION, "development")
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()
    submission = view_submission_payload(
        world.emulator.workspace, modal.view, world.emulator.workspace.issue_trigger(REQUESTER)
    )
    suggestion = {
        **submission,
        "type": "block_suggestion",
        "action_id": views.RESOURCES_ACTION,
        "block_id": "x",
        "value": "",
    }
    metadata = st.one_of(
        hostile_text,
        st.builds(
            lambda a, s: json.dumps({"account": a, "service": s}),
            st.sampled_from(["production", "nope", "", "../x"]),
            st.sampled_from(["s3", "iam", "", "<!channel>"]),
        ),
    )

    def with_metadata(payload: dict[str, Any], action: str) -> Any:
        return st.builds(
            lambda meta, value: {
                **payload,
                "action_id": action,
                "value": value,
                "view": {**payload["view"], "private_metadata": meta},
            },
            metadata,
            hostile_text,
        )

    submissions = generate(mutated(submission)) + generate(with_metadata(submission, ""))
    suggestions = generate(mutated(suggestion))
    for action in (views.SERVICE_ACTION, views.ACTIONS_ACTION, views.RESOURCES_ACTION):
        suggestions += generate(with_metadata(suggestion, action))

    unacked = await deliver_all(world, "interactive", submissions + suggestions)

    assert unacked == []
    assert mentions_posted(world) == []
    await full_flow(world)


def resource_strings(buckets: list[str], account_id: str) -> st.SearchStrategy[str]:
    """ARN-shaped strings an attacker would try (wildcards in every field, other accounts and
    partitions, policy variables, other buckets) and plain hostile text."""
    names = st.sampled_from([*buckets, "someone-elses", "acme-*", "*", "acme-?", "${aws:username}"])
    keys = st.sampled_from(["", "/*", "/reports/*", "/a/../b", "/${aws:userid}", "/?", "/x"])
    s3 = st.builds(
        lambda partition, name, key: f"arn:{partition}:s3:::{name}{key}",
        st.sampled_from(["aws", "aws", "aws-cn", "*", ""]),
        names,
        keys,
    )
    dynamodb = st.builds(
        lambda region, account, table: f"arn:aws:dynamodb:{region}:{account}:table/{table}",
        st.sampled_from(["eu-west-1", "*", "", "us-east-1"]),
        st.sampled_from([account_id, "999999999999", "*", ""]),
        st.sampled_from(["development-orders", "*", "development-orders/index/*"]),
    )
    return st.one_of(s3, dynamodb, st.just("*"), hostile_text)


def granted_outside(document: dict[str, Any], account_id: str) -> list[str]:
    """What a policy grants beyond named buckets (or keys below them) of the account.

    A typed bucket name may be anyone's (S3 ARNs name no account): the statement must pin
    ``aws:ResourceAccount``, so only a bucket of the account is reached.
    """
    wrong = []
    for statement in document["Statement"]:
        if statement["Condition"].get("StringEquals") != {"aws:ResourceAccount": account_id}:
            wrong.append(f"{statement['Sid']}: not pinned to {account_id}")
    for statement in policy_statements(document):
        for resource in statement.resources:
            arn = parse_arn(resource)
            bucket = (arn.resource if arn else "").partition("/")[0]
            named = bool(bucket) and not any(c in bucket for c in "*?$")
            if arn is None or (arn.partition, arn.service) != ("aws", "s3") or not named:
                wrong.append(f"{statement.actions} on {resource}")
    return wrong


@pytest.mark.slow
async def test_fuzzed_resources_option_values_and_reasons_never_grant_outside_the_allowed_set(
    world: Sandbox,
) -> None:
    """Every submission is auto-approved if the bot accepts it at all (reads of development),
    and every pending one is then approved by a person: whatever was typed, picked or forged,
    IAM ends up with GetObject on the development buckets (or keys below them) only."""
    account = world.accounts["development"]
    buckets = list(account.buckets)
    world.config = sandbox_config(auto_approve=[{"accounts": ["development"]}])
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.fill(views.REASON_ACTION, "fuzz")
    await modal.select(views.DURATION_ACTION, "15")
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()
    await modal.select(views.LOGIN_ROLE_ACTION, LOGIN_ROLE)
    await modal.suggest(views.SERVICE_ACTION, "s3")
    await modal.select(views.SERVICE_ACTION, "s3")
    await modal.wait_updated()
    answer = await modal.suggest(views.ACTIONS_ACTION, "GetObject")
    [get_object] = [
        o for g in answer["option_groups"] for o in g["options"] if o["value"] == "s3:GetObject"
    ]
    await modal.select_many(views.ACTIONS_ACTION, [get_object])
    discovered = (await modal.suggest(views.RESOURCES_ACTION, ""))["options"]
    base = view_submission_payload(
        world.emulator.workspace, modal.view, world.emulator.workspace.issue_trigger(REQUESTER)
    )
    values = base["view"]["state"]["values"]
    picker = next(k for k in values if k.startswith("resources."))
    typed = next(k for k in values if k.startswith("arns."))
    strings = resource_strings(buckets, account.account_id)
    listed = st.sampled_from([o["value"] for o in discovered])
    option_values = st.one_of(
        listed,
        listed,
        strings,
        st.text(alphabet="0123456789abcdef", min_size=1, max_size=73).map(lambda h: f"h:{h}"),
    )

    def submission(index: int, picked: list[str], arns: list[str], reason: str) -> dict[str, Any]:
        payload = copy.deepcopy(base)
        payload["view"]["id"] = f"VFUZZ{index:05d}"
        state = payload["view"]["state"]["values"]
        state[picker][views.RESOURCES_ACTION] = {
            "type": "multi_external_select",
            "selected_options": [
                {"text": {"type": "plain_text", "text": "x"}, "value": v} for v in picked
            ],
        }
        state[typed][views.ARNS_ACTION] = {"type": "plain_text_input", "value": "\n".join(arns)}
        state["reason"][views.REASON_ACTION] = {"type": "plain_text_input", "value": reason}
        return payload

    # The attacks the review reproduced first, then what hypothesis draws.
    drawn = [
        ([discovered[0]["value"]], [], "read the exports"),
        (["arn:aws:s3:::*"], [], "forged option"),
        (["arn:aws:dynamodb:eu-west-1:999999999999:table/orders"], [], "forged option"),
        ([], ["*"], "typed star"),
        ([], [f"arn:aws:s3:::{buckets[0]}/reports/*"], "one prefix"),
        ([], ["arn:aws:s3:::someone-elses-bucket"], "a bucket of any account"),
        *generate(
            st.tuples(
                st.lists(option_values, max_size=2),
                st.lists(strings, max_size=2),
                st.one_of(hostile_text, st.just("read the exports")),
            )
        ),
    ]
    payloads = [submission(i, *args) for i, args in enumerate(drawn)]
    assert await deliver_all(world, "interactive", payloads) == []

    for request in await world.runtime.store.for_user(REQUESTER):
        if request.status is Status.PENDING:
            await world.click(BOB, await world.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    assert await world.runtime.inflight.wait_idle(30)
    stored = await world.runtime.store.for_user(REQUESTER)
    print("STATUSES", [(r.status, r.services[0].resources, r.failure_reason) for r in stored])
    assert any(r.status is Status.ACTIVE for r in stored), "nothing valid was generated"
    for document in (await inline_policies(world.clients, account)).values():
        assert granted_outside(document, account.account_id) == []
    for other in world.accounts.values():
        if other is not account:
            assert await inline_policies(world.clients, other) == {}


async def test_payloads_bolt_cannot_parse_are_still_acked(world: Sandbox) -> None:
    """Found by the fuzzer: a ``view`` that is not a mapping makes Bolt raise before dispatch."""
    broken: list[tuple[str, dict[str, Any]]] = [
        ("interactive", {"type": "block_suggestion", "action_id": "x", "view": []}),
        ("interactive", {"type": "view_submission", "view": "not a view"}),
        ("interactive", {"type": "block_actions", "actions": "nope", "user": 7}),
    ]
    for kind, payload in broken:
        ack = await world.emulator.send_envelope(kind, payload)
        assert ack.latency_ms is not None and ack.latency_ms < 3000
    await full_flow(world)
