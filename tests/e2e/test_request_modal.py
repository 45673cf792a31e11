"""The request modal in depth: several services, discovered resources, least-privilege ARNs."""

from __future__ import annotations

import asyncio
from typing import Any

from botocore.exceptions import ClientError

from cloud_access_bot.audit.matching import policy_statements
from cloud_access_bot.aws.discovery import ApiCall, ResourceDiscovery
from cloud_access_bot.domain.model import Status
from cloud_access_bot.domain.policy import blocking_findings, lint_policy
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.aws import inline_policies
from cloud_access_bot_sandbox.scenario import (
    APPROVERS,
    LOGIN_ROLE,
    REQUESTER,
    Sandbox,
    sandbox_config,
)

BOB = APPROVERS[0]
ACCOUNT_ID = "111111111111"


async def test_two_services_two_regions_get_exact_arns_per_action(world: Sandbox) -> None:
    account = world.accounts["development"]
    bucket = account.buckets[0]
    (west1, orders), (west2, invoices) = account.tables
    ack = await world.request(
        actions=["s3:GetObject"],
        resources=[bucket],
        more_services=[
            {
                "service": "dynamodb",
                "actions": ["dynamodb:GetItem", "dynamodb:Query"],
                "resources": [orders, invoices],
            }
        ],
    )
    assert ack.get("response_action") != "errors", ack
    request = await world.latest_request()
    assert [s.service for s in request.services] == ["s3", "dynamodb"]
    dm = await world.approval_dm(BOB, request.id)
    assert "*s3*" in dm.flat_text and "*dynamodb*" in dm.flat_text

    await world.click(BOB, dm, views.APPROVE_ACTION)
    active = await world.wait_for_status(request.id, Status.ACTIVE)

    document = (await inline_policies(world.clients, account))[active.policy_name or ""]
    for statement in document["Statement"]:
        condition = statement["Condition"]
        assert condition["StringEqualsIgnoreCase"]["aws:userid"].endswith(":alice@example.com")
        scoped = {"StringEqualsIgnoreCase", "DateGreaterThan", "DateLessThan"}
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        if all(r.startswith("arn:aws:s3:::") for r in resources):
            # S3 ARNs name no account: the statement pins the bucket's owner instead.
            assert condition["StringEquals"] == {"aws:ResourceAccount": ACCOUNT_ID}
            scoped.add("StringEquals")
        assert set(condition) == scoped
    granted = {(a, r) for s in policy_statements(document) for a in s.actions for r in s.resources}
    table = f"arn:aws:dynamodb:{{}}:{ACCOUNT_ID}:table/{{}}"
    tables = {table.format(west1, orders), table.format(west2, invoices)}
    assert granted == {
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/*"),
        *(("dynamodb:GetItem", t) for t in tables),
        *(("dynamodb:Query", t) for t in tables),
        *(("dynamodb:Query", f"{t}/index/*") for t in tables),
    }
    assert not blocking_findings(lint_policy(document))


async def test_bad_arns_and_unknown_services_are_named_inline(world: Sandbox) -> None:
    foreign = "arn:aws:dynamodb:eu-west-1:999999999999:table/orders"
    malformed = "arn:aws:dynamodb:eu-west-1"
    ack = await world.request(
        service="dynamodb", actions=["dynamodb:GetItem"], arns=[foreign, malformed]
    )
    assert ack["response_action"] == "errors"
    message = " ".join(ack["errors"].values())
    assert "999999999999" in message and "not an ARN" in message
    assert await world.runtime.store.for_user(REQUESTER) == []

    modal = world.emulator.modal(REQUESTER)
    assert modal is not None
    suggestions = await modal.suggest(views.SERVICE_ACTION, "no-such-service-xyz")
    assert suggestions.get("options") == []


async def test_submitting_without_actions_is_refused(world: Sandbox) -> None:
    ack = await world.request(actions=[], resources=[world.accounts["development"].buckets[0]])
    assert ack["response_action"] == "errors"
    assert "action" in " ".join(ack["errors"].values())
    assert await world.runtime.store.for_user(REQUESTER) == []


async def test_preset_at_the_top_of_the_modal_prefills_service_and_actions(
    world: Sandbox,
) -> None:
    world.config = sandbox_config(
        presets={
            "s3-read": {
                "description": "read a bucket",
                "actions": ["s3:GetObject", "s3:ListBucket"],
            }
        }
    )
    bucket = world.accounts["development"].buckets[0]
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.fill(views.REASON_ACTION, "read the exports")
    await modal.select(views.DURATION_ACTION, "15")
    await modal.suggest(views.ACCOUNT_ACTION, "development")
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()
    await modal.select(views.LOGIN_ROLE_ACTION, LOGIN_ROLE)

    await modal.select(views.PRESET_SELECT_ACTION, "s3-read")
    await modal.wait_updated()
    assert "Preset *s3-read*" in modal.text
    answer = await modal.suggest(views.RESOURCES_ACTION, bucket)
    await modal.select_many(views.RESOURCES_ACTION, [answer["options"][0]])
    ack = await modal.submit()

    assert ack.get("response_action") != "errors", ack
    request = await world.latest_request()
    assert request.services[0].service == "s3"
    assert set(request.services[0].actions) == {"s3:GetObject", "s3:ListBucket"}
    assert request.services[0].resources == (f"arn:aws:s3:::{bucket}",)


async def test_a_failing_region_is_a_note_while_other_regions_load(world: Sandbox) -> None:
    async def eu_west_2_refuses(call: ApiCall) -> None:
        if call.region == "eu-west-2":
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "SCP denies eu-west-2"}},
                call.operation,
            )

    await world.stop_bot()
    world.runtime_options = {
        "discovery": ResourceDiscovery(world.clients, before_call=eu_west_2_refuses)
    }
    await world.start_bot()
    (_, orders), _ = world.accounts["development"].tables
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.suggest(views.ACCOUNT_ACTION, "development")
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()
    await modal.suggest(views.SERVICE_ACTION, "dynamodb")
    await modal.select(views.SERVICE_ACTION, "dynamodb")
    await modal.wait_updated()

    answer = await modal.suggest(views.RESOURCES_ACTION, "")

    texts = [o["text"]["text"] for o in answer["options"]]
    assert any(orders in t and "eu-west-1" in t for t in texts), texts
    assert any(t.startswith("⚠") and "eu-west-2" in t and "AccessDenied" in t for t in texts)


async def test_an_action_that_fits_none_of_the_resources_is_refused_inline(
    world: Sandbox,
) -> None:
    bucket = world.accounts["development"].buckets[0]
    ack = await world.request(
        actions=["s3:GetObject", "s3:CreateAccessPoint"], arns=[f"arn:aws:s3:::{bucket}"]
    )

    assert ack["response_action"] == "errors"
    assert "s3:CreateAccessPoint" in " ".join(ack["errors"].values())
    assert await world.runtime.store.for_user(REQUESTER) == []


async def test_refresh_lists_resources_created_after_the_cache_was_filled(
    world: Sandbox,
) -> None:
    account = world.accounts["development"]
    await world.emulator.slash_command(REQUESTER, "/request")
    modal = await world.emulator.wait_for_view(REQUESTER, views.REQUEST_CALLBACK)
    await modal.suggest(views.ACCOUNT_ACTION, "development")
    await modal.select(views.ACCOUNT_ACTION, "development")
    await modal.wait_updated()
    await modal.suggest(views.SERVICE_ACTION, "s3")
    await modal.select(views.SERVICE_ACTION, "s3")
    await modal.wait_updated()
    assert (await modal.suggest(views.RESOURCES_ACTION, "acme"))["options"]
    async with world.clients.assumed("s3", account.bot_role_arn) as s3:
        await s3.create_bucket(
            Bucket="acme-fresh-bucket",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )

    def names(answer: dict[str, Any]) -> str:
        return " ".join(o["text"]["text"] for o in answer["options"])

    assert "acme-fresh-bucket" not in names(await modal.suggest(views.RESOURCES_ACTION, "fresh"))
    await modal.click(views.REFRESH_RESOURCES_ACTION)

    for _ in range(50):
        if "acme-fresh-bucket" in names(await modal.suggest(views.RESOURCES_ACTION, "fresh")):
            break
        await asyncio.sleep(0.1)
    assert "acme-fresh-bucket" in names(await modal.suggest(views.RESOURCES_ACTION, "fresh"))
