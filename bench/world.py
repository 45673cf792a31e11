"""The benchmark's world: the sandbox (emulator + moto accounts + the real bot) with many users.

Every simulated user asks for the *typical grant* (1 service, 3 actions, 2 resources) on one of
many login roles: IAM allows 10,240 characters of inline policies per role, so a few hundred
grants on the sandbox's single login role would be refused for capacity, which is measured on
its own (``grants_per_shared_role``), not here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot_sandbox.aws import SAML_TRUST_POLICY, SeededAccount
from cloud_access_bot_sandbox.scenario import LOGIN_ROLE, Sandbox, sandbox, sandbox_config
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator
from cloud_access_bot_sandbox.slack_people import find_element
from cloud_access_bot_sandbox.slack_workspace import Message

#: The typical grant: one service, three actions, two resources (the account's two buckets).
TYPICAL_SERVICE = "s3"
TYPICAL_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket")
DURATION_MINUTES = 15
#: Waits inside the benchmark may be long under load; Slack's own deadlines are unchanged.
WAIT_S = 60.0


def user_id(index: int) -> str:
    return f"UB{index:05d}"


def email(index: int) -> str:
    """A typical corporate address (its length counts in every policy's aws:userid)."""
    return f"firstname{index:04d}.lastname@example.com"


def login_roles(count: int) -> tuple[str, ...]:
    return tuple(f"BenchRole{index:02d}" for index in range(1, count + 1))


def add_users(emulator: SlackEmulator, count: int) -> list[str]:
    users = [user_id(index) for index in range(count)]
    for index, user in enumerate(users):
        emulator.add_user(user, name=f"user{index}", email=email(index))
    return users


async def add_login_roles(
    clients: AwsClients, account: SeededAccount, names: Sequence[str]
) -> None:
    """More SAML login roles like the sandbox's, so grants spread over roles."""
    trust = json.dumps(SAML_TRUST_POLICY).replace("{account}", account.account_id)
    async with clients.assumed("iam", account.bot_role_arn) as iam:
        for name in names:
            await iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)


@contextlib.asynccontextmanager
async def bench_world(
    *, users: int, roles: int, start: bool = True, **config: Any
) -> AsyncIterator[tuple[Sandbox, list[str], tuple[str, ...]]]:
    """The sandbox with ``users`` requesters and ``roles`` extra login roles per account."""
    names = login_roles(roles)
    settings = sandbox_config(
        loginRoles=[LOGIN_ROLE, *names],
        durations_minutes=[DURATION_MINUTES, 60],
        **config,
    )
    async with sandbox(config=settings, start=False) as world:
        world.emulator.timeout = WAIT_S
        people = add_users(world.emulator, users)
        for account in world.accounts.values():
            await add_login_roles(world.clients, account, names)
        if start:
            await world.start_bot()
        yield world, people, names


def button_value(message: Message, action_id: str) -> str | None:
    """The value (a request id) of a button on a message, if it has one."""
    try:
        return str(find_element(message.blocks, action_id)[1]["value"])
    except LookupError:
        return None


class Inbox:
    """One user's DMs that carry a given button, by button value, indexed incrementally.

    Hundreds of concurrent waiters re-check their predicate after every change the emulator
    sees; scanning the whole DM channel each time would make the emulator, which shares the
    bot's event loop, the bottleneck of the benchmark.
    """

    def __init__(self, emulator: SlackEmulator, user: str, action_id: str) -> None:
        self._emulator = emulator
        self._channel = emulator.dm_channel(user)
        self._action_id = action_id
        self._seen = 0
        self._by_value: dict[str, Message] = {}

    def find(self, value: str) -> Message | None:
        messages = self._emulator.workspace.messages.get(self._channel, [])
        for message in messages[self._seen :]:
            found = button_value(message, self._action_id)
            if found:
                self._by_value[found] = message
        self._seen = len(messages)
        return self._by_value.get(value)

    async def wait(self, value: str) -> Message:
        return await self._emulator.wait_until(
            lambda: self.find(value), WAIT_S, f"a DM with {self._action_id} {value}"
        )


def granted_count(emulator: SlackEmulator, users: Sequence[str]) -> int:
    """How many of ``users`` were told their access was granted."""
    return sum(
        any("Access granted" in m.text for m in emulator.messages_to(user)) for user in users
    )
