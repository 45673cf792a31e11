"""Fixtures shared by the integration tests (constants and helpers: target_account.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud_access_bot.aws.clients import AwsClients


@pytest.fixture
async def clients(aws: str) -> AsyncIterator[AwsClients]:
    """AwsClients reaching the moto server, closed after the test. A module that needs IAM
    seeded overrides it with a fixture of the same name that asks for this one."""
    made = AwsClients(region="eu-west-1")
    yield made
    await made.close()
