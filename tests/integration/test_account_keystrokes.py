"""The account picker's keystrokes: one modal looks the person up once (their recent requests
in DynamoDB, what they may request through Slack), a new modal, a new configuration or a
minute later looks again. The store is the real DynamoStore on moto; Slack is the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from cloud_access_bot.aws.store import DynamoStore
from cloud_access_bot.domain.model import AccessRequest
from cloud_access_bot.slack import keystrokes
from cloud_access_bot.slack.directory import SlackDirectory
from cloud_access_bot.slack.keystrokes import RECALL_SECONDS, AccountKeystrokes
from cloud_access_bot_sandbox.scenario import REQUESTER, Sandbox, sandbox, sandbox_config
from tests.factories import access_request

#: Alice is not in devops.
DEVOPS_ONLY = {"user_groups": ["devops"]}


@dataclass
class Counted:
    """The store's ``for_user``, counting the lookups (and failing the first ``fail`` ones)."""

    store: DynamoStore
    fail: int = 0
    calls: list[str] = field(default_factory=list)

    async def __call__(self, user_id: str, limit: int) -> Sequence[AccessRequest]:
        self.calls.append(user_id)
        if len(self.calls) <= self.fail:
            raise ConnectionError("DynamoDB is not answering")
        return await self.store.for_user(user_id, limit)


@dataclass
class Picker:
    world: Sandbox
    history: Counted
    keystrokes: AccountKeystrokes
    now: list[float]

    async def offered(self, view_id: str, query: str) -> list[str]:
        answer = await self.keystrokes.answer(REQUESTER, view_id, query)
        return [o["value"] for o in answer["options"]]


@pytest.fixture
async def picker(aws: str) -> AsyncIterator[Picker]:
    async with sandbox(start=False) as world:
        store = DynamoStore(world.clients, "keystrokes")
        await store.ensure_table()
        client = AsyncWebClient(token=world.emulator.bot_token, base_url=world.emulator.api_url)
        history, now = Counted(store), [0.0]
        answers = AccountKeystrokes(
            lambda: world.config, history, SlackDirectory(client), clock=lambda: now[0]
        )
        yield Picker(world, history, answers, now)


async def made_a_request(picker: Picker, account: str) -> None:
    request = access_request(id="0123456789cd", requester_id=REQUESTER, account_name=account)
    await picker.history.store.create(request, REQUESTER, {})


async def test_one_modal_looks_the_person_up_once(picker: Picker) -> None:
    for query in ("", "p", "pr", "pro", "prod"):
        await picker.offered("V1", query)
    assert picker.history.calls == [REQUESTER]
    assert await picker.offered("V1", "prod") == ["production"]


async def test_a_new_modal_ranks_a_request_just_made_first(picker: Picker) -> None:
    assert await picker.offered("V1", "") == ["development", "production"]
    await made_a_request(picker, "production")
    assert await picker.offered("V1", "") == ["development", "production"]  # the same modal
    assert await picker.offered("V2", "") == ["production", "development"]


async def test_what_may_be_requested_follows_a_new_configuration(picker: Picker) -> None:
    assert await picker.offered("V1", "") == ["development", "production"]
    picker.world.config = sandbox_config(eligibility=DEVOPS_ONLY)
    assert await picker.offered("V1", "") == []
    assert len(picker.history.calls) == 2


async def test_lookups_are_recalled_for_at_most_a_minute(picker: Picker) -> None:
    await picker.offered("V1", "")
    await made_a_request(picker, "production")
    picker.now[0] += RECALL_SECONDS
    assert await picker.offered("V1", "") == ["production", "development"]
    assert len(picker.history.calls) == 2


async def test_a_failed_lookup_still_answers_and_is_tried_again(picker: Picker) -> None:
    picker.history.fail = 1
    await made_a_request(picker, "production")
    assert await picker.offered("V1", "") == ["development", "production"]  # unranked
    assert await picker.offered("V1", "") == ["production", "development"]
    assert len(picker.history.calls) == 2


async def test_the_oldest_modal_is_forgotten_first(
    picker: Picker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keystrokes, "MAX_RECALLED", 2)
    for view_id in ("V1", "V2", "V3", "V3", "V2"):
        await picker.offered(view_id, "")
    assert len(picker.history.calls) == 3
    await picker.offered("V1", "")
    assert len(picker.history.calls) == 4


async def test_modals_share_one_copy_of_the_accounts_and_old_ones_are_dropped(
    picker: Picker,
) -> None:
    """Memory: thousands of account names are held once per distinct eligibility, not once
    per modal, and a modal older than the recall is dropped when the next one is looked up."""
    for n in range(5):
        await picker.offered(f"V{n}", "")
    held = list(picker.keystrokes._recalled.values())
    assert len({id(r.allowed) for r in held}) == 1
    picker.now[0] += RECALL_SECONDS
    await picker.offered("V9", "")
    assert list(picker.keystrokes._recalled) == [(REQUESTER, "V9")]
