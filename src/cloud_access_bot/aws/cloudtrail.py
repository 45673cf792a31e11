"""The Trail port on CloudTrail LookupEvents in the target account (as the granters reach it).

LookupEvents filters by one attribute: ``Username``, which for an assumed-role session is its
RoleSessionName, the requester's email (session_granter.session_name). It is regional (global
services such as IAM log to us-east-1) and answers 50 events a page at 2 calls a second per
account and region, so a busy hour takes a while; botocore's retries absorb the throttling.
LookupEvents holds management events only: data events (s3:GetObject, dynamodb:GetItem …)
are in a trail's S3 files or CloudTrail Lake, not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.aws.errors import AssumeRoleError
from cloud_access_bot.aws.explain import explain
from cloud_access_bot.aws.session_granter import session_name
from cloud_access_bot.domain.activity import TrailEvent, trail_event
from cloud_access_bot.ports import TrailUnavailable

PAGE = 50
#: What reading the trail needs, for the message when it is refused.
NEEDED = "sts:AssumeRole on the account's iam_role, which needs cloudtrail:LookupEvents"


class CloudTrailLookup:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    async def events(
        self, role_arn: str, regions: Sequence[str], email: str, start: datetime, end: datetime
    ) -> list[TrailEvent]:
        session = session_name(email)

        async def lookup(client: Any) -> list[TrailEvent]:
            found: list[TrailEvent] = []
            params: dict[str, Any] = {
                "LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": session}],
                "StartTime": start,
                "EndTime": end,
                "MaxResults": PAGE,
            }
            while True:
                page = await client.lookup_events(**params)
                found.extend(trail_event(e["CloudTrailEvent"]) for e in page.get("Events", []))
                if not page.get("NextToken"):
                    return [e for e in found if e.session.lower() == session.lower()]
                params["NextToken"] = page["NextToken"]

        try:
            regional = await asyncio.gather(
                *(
                    self._clients.with_assumed("cloudtrail", role_arn, lookup, region=region)
                    for region in dict.fromkeys([*regions, "us-east-1"])
                )
            )
        except AssumeRoleError as error:
            raise TrailUnavailable(str(error)) from error
        except (ClientError, BotoCoreError) as error:
            where = f"CloudTrail in account {role_arn.split(':')[4]}"
            raise TrailUnavailable(explain(error, action=NEEDED, resource=where)) from error
        return [event for events in regional for event in events]
