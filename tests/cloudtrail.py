"""CloudTrail's LookupEvents, served the way CloudTrail answers it, for tests.

moto does not implement CloudTrail's LookupEvents at all (moto 5.2: trails and selectors only),
so tests play CloudTrail: they write the trail records the way CloudTrail records them
(userIdentity of the assumed-role session, eventSource, eventName, errorCode) and this serves
them over HTTP with LookupEvents' JSON protocol (Username filter, time range, 50-event pages with
NextToken). The bot's client is botocore, reaching it through AWS_ENDPOINT_URL_CLOUDTRAIL as it
would reach CloudTrail; everything else stays moto's server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

EMAIL = "alice@example.com"


def record(
    at: datetime,
    source: str,
    name: str,
    *,
    session: str = EMAIL,
    error: str = "",
    region: str = "eu-west-1",
    account: str = "111111111111",
    role: str = "Developer",
    role_path: str = "/",
) -> dict[str, Any]:
    """A CloudTrail record as CloudTrail writes it for a call of a session of ``role``
    (``role_path``: ``/aws-reserved/sso.amazonaws.com/`` for an Identity Center role)."""
    made: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account,
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLE",
                    "arn": f"arn:aws:iam::{account}:role{role_path}{role}",
                    "accountId": account,
                    "userName": role,
                },
                "attributes": {
                    "creationDate": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "mfaAuthenticated": "false",
                },
            },
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "eventID": f"{at.timestamp()}-{name}",
    }
    if error:
        made |= {"errorCode": error, "errorMessage": f"{error} for {name}"}
    return made


class Trail:
    """What CloudTrail holds, answering LookupEvents."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.calls = 0
        self.denied = False

    async def handle(self, http: web.Request) -> web.Response:
        assert http.headers["X-Amz-Target"].endswith(".LookupEvents")
        self.calls += 1
        if self.denied:
            error = {"__type": "AccessDeniedException", "message": "not authorized"}
            return web.json_response(error, status=400, content_type="application/x-amz-json-1.1")
        body = json.loads(await http.read())
        (attribute,) = body["LookupAttributes"]
        assert attribute["AttributeKey"] == "Username"
        start, end = (datetime.fromtimestamp(body[k], UTC) for k in ("StartTime", "EndTime"))
        # CloudTrail is regional: the region the request was signed for (Credential=…/region/…).
        region = http.headers["Authorization"].split("Credential=")[1].split("/")[2]
        found = [
            r
            for r in self.records
            if r["awsRegion"] == region
            and r["userIdentity"]["arn"].endswith("/" + attribute["AttributeValue"])
            and start <= datetime.fromisoformat(r["eventTime"]) <= end
        ]
        offset = int(body.get("NextToken", 0))
        page = found[offset : offset + body.get("MaxResults", 50)]
        answer: dict[str, Any] = {
            "Events": [
                {
                    "EventId": r["eventID"],
                    "EventName": r["eventName"],
                    "CloudTrailEvent": json.dumps(r),
                }
                for r in page
            ]
        }
        if offset + len(page) < len(found):
            answer["NextToken"] = str(offset + len(page))
        return web.json_response(answer, content_type="application/x-amz-json-1.1")


@pytest.fixture
async def trail(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Trail]:
    served = Trail([])
    app = web.Application()
    app.router.add_post("/", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", f"http://127.0.0.1:{port}")
    yield served
    await runner.cleanup()
