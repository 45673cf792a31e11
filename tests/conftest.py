"""Shared fixtures: a moto server on 127.0.0.1 reached through aioboto3 exactly as in production."""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests import summary
from tests.cloudtrail import trail  # noqa: F401  (the fixture: CloudTrail played for tests)

for _proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_proxy, None)
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto's ThreadedMotoServer once per session and point every AWS client at it."""
    from cloud_access_bot_sandbox.aws import start_moto

    server, endpoint = start_moto()
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ENDPOINT_URL", endpoint)
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_SESSION_TOKEN", "testing")
    patch.setenv("AWS_REGION", "eu-west-1")
    patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    patch.delenv("MOTO_ACCOUNT_ID", raising=False)
    patch.delenv("AWS_PROFILE", raising=False)
    try:
        yield endpoint
    finally:
        patch.undo()
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str) -> Iterator[str]:
    """A moto server with empty state for this test; yields its endpoint URL."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    yield moto_endpoint


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker sends its figures to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["figures"] = summary.collected()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller adds up each worker's figures as the worker finishes."""
    figures = getattr(node, "workeroutput", {}).get("figures")
    if figures is not None:
        summary.add(figures)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in summary.lines():
        terminalreporter.write_line(line)
    summary.FIGURES.dump()
