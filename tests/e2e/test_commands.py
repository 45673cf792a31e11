"""/request subcommands, cross-account find, presets and session credentials, end to end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cloud_access_bot import runtime as runtime_module
from cloud_access_bot.audit.matching import policy_statements
from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.domain.model import Status, iso
from cloud_access_bot.slack import commands, views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    ACCOUNTS,
    APPROVERS,
    LOGIN_ROLE,
    OUTSIDER,
    REQUESTER,
    ManualClock,
    Sandbox,
    sandbox,
    sandbox_config,
)
from cloud_access_bot_sandbox.slack_workspace import Ephemeral, Message

BOB, _ = APPROVERS


async def say(
    world: Sandbox,
    text: str,
    user: str = REQUESTER,
    until: Callable[[Ephemeral], bool] = lambda e: True,
    timeout: float | None = None,
) -> Ephemeral:
    """Type ``/request <text>``; the first ephemeral answer after it matching ``until``."""
    before = len(world.emulator.ephemerals_to(user))
    await world.emulator.slash_command(user, f"/{world.config.request_command}", text)

    def answer() -> Ephemeral | None:
        return next(filter(until, world.emulator.ephemerals_to(user)[before:]), None)

    found: Ephemeral = await world.emulator.wait_until(answer, timeout)
    return found


def results(answer: Ephemeral) -> bool:
    """find posts its results (with buttons), then a one-line summary of the search."""
    return not answer.text.startswith("Searched")


#: How long a find may take: the first one waits for discovery of every account and region.
FIND_TIMEOUT = commands.FIND_WAIT_S + 5


async def approved(world: Sandbox, **kwargs: Any) -> str:
    request_id = (await world.submit(**kwargs)).id
    await world.click(BOB, await world.approval_dm(BOB, request_id), views.APPROVE_ACTION)
    await world.wait_for_status(request_id, Status.ACTIVE)
    return request_id


async def test_list_and_revoke(world: Sandbox) -> None:
    account = world.accounts["development"]
    request_id = await approved(world, resources=[account.buckets[0]])

    listed = await say(world, "list")
    assert request_id in listed.text and "min left" in listed.text

    refused = await say(world, f"revoke {request_id}", user="U0MALLORY")
    assert refused.text.startswith("Not revoked")
    answer = await say(world, f"revoke {request_id}")
    assert answer.text.startswith(f"Revoked `{request_id}`")
    assert (await world.runtime.store.get(request_id)).status is Status.REVOKED  # type: ignore[union-attr]
    assert await inline_policies(world.clients, account) == {}
    again = await say(world, f"revoke {request_id}")
    assert "revoked" in again.text.lower() and not again.text.startswith("Revoked")
    assert "Usage" in (await say(world, "revoke nonsense")).text


async def run_instance(clients: AwsClients, account_id: str, region: str, name: str) -> Any:
    role = f"arn:aws:iam::{account_id}:role/cloud-access-bot"
    async with clients.assumed("ec2", role, region) as ec2:
        answer = await ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )
    return answer["Instances"][0]


async def test_find_locates_an_instance_by_id_and_by_ip(world: Sandbox) -> None:
    wanted = await run_instance(world.clients, ACCOUNTS["production"], "eu-west-2", "billing")
    await run_instance(world.clients, ACCOUNTS["production"], "eu-west-1", "web")
    decoy = await run_instance(world.clients, ACCOUNTS["development"], "eu-west-2", "billing")
    arn = f"arn:aws:ec2:eu-west-2:{ACCOUNTS['production']}:instance/{wanted['InstanceId']}"

    for query in (wanted["InstanceId"], wanted["PrivateIpAddress"], wanted["PublicIpAddress"]):
        answer = await say(world, f"find {query}", user=BOB, until=results, timeout=FIND_TIMEOUT)
        assert f"account *production* (acme-production) {ACCOUNTS['production']}" in (
            answer.flat_text
        ), query
        assert "region eu-west-2" in answer.flat_text and arn in answer.flat_text
        assert decoy["InstanceId"] not in answer.flat_text
        assert "Request access" in answer.flat_text

    # "Request access" opens the request modal with account, service and ARN filled in.
    message = Message(answer.channel, answer.ts, answer.text, answer.blocks, "UBOT", "BBOT")
    await world.emulator.click(BOB, message, commands.FIND_REQUEST_ACTION)
    modal = await world.emulator.wait_for_view(BOB, views.REQUEST_CALLBACK)
    state = views.ModalState("production", "ec2")
    assert modal.private_metadata == state.to_metadata()
    assert modal.values[views.block_id("arns", state)][views.ARNS_ACTION]["value"] == arn


async def test_find_by_name_and_nothing_found(world: Sandbox) -> None:
    answer = await say(
        world, "find development-invoices", user=BOB, until=results, timeout=FIND_TIMEOUT
    )
    assert "account *development*" in answer.flat_text and "region eu-west-2" in answer.flat_text
    assert "table/development-invoices" in answer.flat_text
    nothing = await say(
        world, "find i-0000000000000dead", user=BOB, until=lambda e: "No " in e.text
    )
    assert nothing.text.startswith("No resource matches")


async def found_accounts(world: Sandbox, user: str) -> tuple[set[str], str]:
    """The accounts whose table ``find invoices`` shows ``user`` (each account has one), and
    the summary line that ends the answer."""
    before = len(world.emulator.ephemerals_to(user))
    await world.emulator.slash_command(user, "/request", "find invoices")

    def answered() -> list[Ephemeral] | None:
        answers = world.emulator.ephemerals_to(user)[before:]
        return answers if any("Searched" in a.text for a in answers) else None

    answers = await world.emulator.wait_until(answered, timeout=FIND_TIMEOUT)
    shown = " ".join(a.flat_text for a in answers)
    tables = {name for name in ACCOUNTS if f"table/{name}-invoices" in shown}
    return tables, answers[-1].text.splitlines()[-1]


async def test_find_shows_only_accounts_the_person_approves_or_was_granted(
    world: Sandbox,
) -> None:
    world.emulator.workspace.add_usergroup("sre", [OUTSIDER], name="SRE")
    world.config = sandbox_config(admin_groups=["sre"])
    only = commands.SEARCHED_ONLY

    nothing = await say(world, "find invoices")  # alice approves nothing, was granted nothing
    assert nothing.text == commands.NOTHING_TO_FIND
    tables, summary = await found_accounts(world, BOB)  # an approver of both accounts
    assert tables == set(ACCOUNTS) and only not in summary
    tables, summary = await found_accounts(world, OUTSIDER)  # an admin
    assert tables == set(ACCOUNTS) and only not in summary

    await approved(world, resources=[world.accounts["development"].buckets[0]])
    tables, summary = await found_accounts(world, REQUESTER)
    assert tables == {"development"}
    assert summary.startswith("Searched 1 account(s)") and summary.endswith(only)

    world.config = sandbox_config(admin_groups=["sre"], find_visibility="public")
    tables, summary = await found_accounts(world, REQUESTER)
    assert tables == set(ACCOUNTS) and summary.startswith("Searched 2 account(s)")


PRESETS = {
    "s3-read": {
        "description": "Read objects of a bucket",
        "actions": ["s3:GetObject", "s3:ListBucket"],
    },
    "ssm-session": {
        "description": "Shell on an instance through Session Manager",
        "actions": ["ssm:StartSession", "ssm:TerminateSession", "ssm:ResumeSession"],
    },
}


@pytest.fixture
async def preset_world(aws: str, clock: ManualClock) -> AsyncIterator[Sandbox]:
    async with sandbox(config=sandbox_config(presets=PRESETS), clock=clock) as made:
        yield made
        assert not made.emulator.problems, made.emulator.problems


async def test_preset_prefills_the_request_and_grants_its_actions(preset_world: Sandbox) -> None:
    world = preset_world
    account = world.accounts["development"]
    await world.emulator.slash_command(REQUESTER, "/request", "preset s3-read")
    chooser = await world.emulator.wait_for_view(REQUESTER, commands.PRESET_CALLBACK)
    await chooser.suggest(commands.PRESET_ACCOUNT_ACTION, "development")
    await chooser.select(commands.PRESET_ACCOUNT_ACTION, "development")
    await chooser.submit()

    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    state = views.ModalState("development", "s3")
    picked = modal.values[views.block_id("actions", state)][views.ACTIONS_ACTION]
    assert [o["value"] for o in picked["selected_options"]] == ["s3:GetObject", "s3:ListBucket"]
    await modal.fill(views.REASON_ACTION, "read the exports")
    await modal.select(views.DURATION_ACTION, "15")
    await modal.select(views.LOGIN_ROLE_ACTION, LOGIN_ROLE)
    await modal.fill(views.ARNS_ACTION, f"arn:aws:s3:::{account.buckets[0]}")
    ack = await modal.submit()
    assert ack.get("response_action") != "errors", ack

    request = await world.latest_request()
    await world.click(BOB, await world.approval_dm(BOB, request.id), views.APPROVE_ACTION)
    active = await world.wait_for_status(request.id, Status.ACTIVE)
    document = (await inline_policies(world.clients, account))[active.policy_name or ""]
    granted = {(a, r) for s in policy_statements(document) for a in s.actions for r in s.resources}
    assert granted == {
        ("s3:GetObject", f"arn:aws:s3:::{account.buckets[0]}/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{account.buckets[0]}"),
    }


SESSION_ACCOUNT = "333333333333"
BROKER = f"arn:aws:iam::{SESSION_ACCOUNT}:role/access-broker"


class Federation:
    def __init__(self) -> None:
        self.calls: list[Mapping[str, str]] = []

    async def __call__(self, params: Mapping[str, str]) -> Mapping[str, Any]:
        self.calls.append(params)
        return {"SigninToken": "FAKE-TOKEN"}


@pytest.fixture
async def session_world(
    aws: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Sandbox, Federation]]:
    federation = Federation()
    monkeypatch.setattr(runtime_module, "AiohttpTokenFetcher", lambda: federation)
    base = sandbox_config()
    accounts = {name: a.model_dump() for name, a in base.accounts.items()}
    accounts["brokered"] = {
        "account_number": SESSION_ACCOUNT,
        "iam_role": f"arn:aws:iam::{SESSION_ACCOUNT}:role/cloud-access-bot",
        "access_mode": "session_credentials",
        "broker_role": BROKER,
    }
    async with sandbox(config=sandbox_config(accounts=accounts), clock=clock) as made:
        yield made, federation
        assert not made.emulator.problems, made.emulator.problems


async def test_session_credentials_grant_dms_a_link_for_the_granted_actions_only(
    session_world: tuple[Sandbox, Federation],
) -> None:
    world, federation = session_world
    assume_calls: list[dict[str, Any]] = []
    async with world.clients.assumed(
        "sts", f"arn:aws:iam::{SESSION_ACCOUNT}:role/cloud-access-bot"
    ) as sts:
        sts.meta.events.register(
            "provide-client-params.sts.AssumeRole",
            lambda params, **_: assume_calls.append(dict(params)),
        )
    table = f"arn:aws:dynamodb:eu-west-1:{SESSION_ACCOUNT}:table/orders"
    request_id = await approved(
        world,
        account="brokered",
        service="dynamodb",
        actions=["dynamodb:GetItem", "dynamodb:Query"],
        arns=[table],
        duration=15,
    )

    dm = await world.emulator.wait_for_message(
        REQUESTER, lambda m: "Open the AWS console" in m.text
    )
    link = dm.text.split("<", 1)[1].split("|", 1)[0]
    assert parse_qs(urlsplit(link).query)["SigninToken"] == ["FAKE-TOKEN"]
    [call] = assume_calls
    assert call["RoleArn"] == BROKER and call["RoleSessionName"] == "alice@example.com"
    assert call["DurationSeconds"] == 900
    policy = json.loads(call["Policy"])
    granted: dict[str, list[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "aws:userid" not in json.dumps(statement)
        actions, resources = statement["Action"], statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            granted[action] = [resources] if isinstance(resources, str) else resources
    assert granted == {
        "dynamodb:GetItem": [table],
        "dynamodb:Query": [table, f"{table}/index/*"],
    }
    # The store and the audit trail hold the session policy, never the link or credentials.
    session = json.loads(federation.calls[0]["Session"])
    active = await world.runtime.store.get(request_id)
    events = await world.runtime.store.events(request_id)
    stored = json.dumps([str(active), [str(e) for e in events]])
    assert json.loads(active.policy_document or "{}") == policy  # type: ignore[union-attr]
    for secret in ("FAKE-TOKEN", session["sessionKey"], session["sessionToken"]):
        assert secret not in stored


async def broker_policies(world: Sandbox) -> dict[str, Any]:
    """The inline policies of the broker role, as IAM holds them."""
    async with world.clients.assumed(
        "iam", f"arn:aws:iam::{SESSION_ACCOUNT}:role/cloud-access-bot"
    ) as iam:
        role = BROKER.rsplit("/", 1)[-1]
        names = (await iam.list_role_policies(RoleName=role))["PolicyNames"]
        found = {}
        for name in names:
            answer = await iam.get_role_policy(RoleName=role, PolicyName=name)
            found[name] = answer["PolicyDocument"]
        return found


async def test_revoking_a_session_grant_denies_its_session_until_the_window_ends(
    session_world: tuple[Sandbox, Federation], clock: ManualClock
) -> None:
    world, _ = session_world
    accounts = world.config.model_dump(mode="json")["accounts"]
    accounts["brokered"]["revoke_cuts_off_session"] = True
    world.config = sandbox_config(accounts=accounts)
    async with world.clients.assumed(
        "iam", f"arn:aws:iam::{SESSION_ACCOUNT}:role/cloud-access-bot"
    ) as iam:
        trust = {"Version": "2012-10-17", "Statement": []}
        made = await iam.create_role(
            RoleName="access-broker", AssumeRolePolicyDocument=json.dumps(trust)
        )
    broker_id = made["Role"]["RoleId"]
    table = f"arn:aws:dynamodb:eu-west-1:{SESSION_ACCOUNT}:table/orders"
    grant = {
        "account": "brokered",
        "service": "dynamodb",
        "actions": ["dynamodb:GetItem"],
        "arns": [table],
        "duration": 15,
    }
    request_id = await approved(world, **grant)
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: request_id in m.flat_text and "revoke" in m.flat_text
    )
    assert "deny for this session on the broker role" in mine.flat_text, "said where offered"
    await world.emulator.app_home_opened(REQUESTER)
    home = await world.emulator.wait_for_home(REQUESTER, lambda t: request_id in t.text)
    assert "deny for this session on the broker role" in home.text

    answer = await say(world, f"revoke {request_id}")

    assert answer.text.startswith(f"Revoked `{request_id}`")
    assert "A deny on the broker role refuses every call of the session" in answer.text
    revoked = await world.wait_for_status(request_id, Status.REVOKED)
    [(name, deny)] = (await broker_policies(world)).items()
    assert name == f"cloud-access-bot-revoked-{request_id}"
    [statement] = deny["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*"
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"aws:userid": f"{broker_id}:alice@example.com"}
    assert condition["DateLessThan"]["aws:CurrentTime"] == iso(revoked.expires_at)  # type: ignore[arg-type]
    assert "aws:TokenIssueTime" in condition["DateLessThan"]

    # Once its window has passed, the deny goes at the next removal in the account.
    later = await approved(world, **grant)
    clock.advance(minutes=16)
    await world.runtime.service.sweep()
    await world.wait_for_status(later, Status.EXPIRED)
    assert await broker_policies(world) == {}


async def test_revoking_a_session_grant_without_cut_off_says_the_session_lives_on(
    session_world: tuple[Sandbox, Federation],
) -> None:
    world, _ = session_world
    table = f"arn:aws:dynamodb:eu-west-1:{SESSION_ACCOUNT}:table/orders"
    request_id = await approved(
        world, account="brokered", service="dynamodb", actions=["dynamodb:GetItem"], arns=[table]
    )
    mine = await world.emulator.wait_for_message(
        REQUESTER, lambda m: request_id in m.flat_text and "revoke" in m.flat_text
    )
    assert "the session already issued stays usable until" in mine.flat_text

    answer = await say(world, f"revoke {request_id}")

    assert "was not cut off" in answer.text and "stays usable until" in answer.text
    revoked = await world.wait_for_status(request_id, Status.REVOKED)
    assert revoked.session_cut_off is False
    await world.emulator.wait_for_message(REQUESTER, lambda m: "was not cut off" in m.text)
