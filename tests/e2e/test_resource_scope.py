"""What a request may reach, attacked from the outside: typed, picked and forged resources.

A simulated requester drives the real modal over Socket Mode; what counts is what the bot
stores and the IAM policy moto holds afterwards.
"""

from __future__ import annotations

from typing import Any

from cloud_access_bot.audit.matching import policy_statements
from cloud_access_bot.domain.model import Status
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
AUTO_READS = [{"accounts": ["development"], "access_levels": ["List", "Read"]}]


def granted_pairs(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a, r) for s in policy_statements(document) for a in s.actions for r in s.resources}


async def nothing_stored(world: Sandbox) -> bool:
    return await world.runtime.store.for_user(REQUESTER) == []


async def test_a_typed_star_is_refused_for_actions_with_resource_level_permissions(
    world: Sandbox,
) -> None:
    world.config = sandbox_config(auto_approve=AUTO_READS)

    ack = await world.request(
        service="secretsmanager", actions=["secretsmanager:GetSecretValue"], arns=["*"]
    )

    assert ack["response_action"] == "errors"
    modal = world.emulator.modal(REQUESTER)
    assert modal is not None
    labels = {b["block_id"]: b["label"]["text"] for b in modal.blocks if b["type"] == "input"}
    [(field, message)] = ack["errors"].items()
    assert labels[field] == "Or ARNs, one per line"  # shown under what was typed
    assert "Resource '*'" in message and "secretsmanager:GetSecretValue" in message
    assert "name them" in message
    assert await nothing_stored(world)


async def test_auto_approve_never_matches_a_wildcard_resource(world: Sandbox) -> None:
    world.config = sandbox_config(auto_approve=AUTO_READS, allow_wildcard_resources=True)

    ack = await world.request(
        service="secretsmanager", actions=["secretsmanager:GetSecretValue"], arns=["*"]
    )

    assert ack.get("response_action") != "errors", ack
    request = await world.latest_request()
    await world.approval_dm(BOB, request.id)  # a person is asked
    assert (await world.runtime.store.get(request.id)).status is Status.PENDING  # type: ignore[union-attr]


async def test_auto_approve_rule_limited_to_discovered_resources_leaves_typed_ones_to_people(
    world: Sandbox,
) -> None:
    bucket = world.accounts["development"].buckets[0]
    rule = [{**AUTO_READS[0], "discovered_only": True}]
    world.config = sandbox_config(auto_approve=rule)

    ack = await world.request(arns=[f"arn:aws:s3:::{bucket}"])
    assert ack.get("response_action") != "errors", ack
    typed = await world.latest_request()
    await world.approval_dm(BOB, typed.id)
    assert (await world.runtime.store.get(typed.id)).status is Status.PENDING  # type: ignore[union-attr]

    ack = await world.request(resources=[bucket])
    assert ack.get("response_action") != "errors", ack

    async def picked() -> list[str]:
        # Both requests share the frozen clock's created_at: tell them apart by id.
        stored = await world.runtime.store.for_user(REQUESTER)
        return [r.id for r in stored if r.id != typed.id]

    [picked_id] = await world.wait_for(picked, "the picked request")
    await world.wait_for_status(picked_id, Status.ACTIVE)


async def test_a_key_prefix_of_a_named_bucket_is_granted_exactly_as_shown(
    world: Sandbox,
) -> None:
    account = world.accounts["development"]
    bucket = account.buckets[0]
    prefix = f"arn:aws:s3:::{bucket}/reports/2026/*"

    ack = await world.request(actions=["s3:GetObject"], arns=[prefix])

    assert ack.get("response_action") != "errors", ack
    request = await world.latest_request()
    dm = await world.approval_dm(BOB, request.id)
    assert prefix in dm.flat_text
    await world.click(BOB, dm, views.APPROVE_ACTION)
    active = await world.wait_for_status(request.id, Status.ACTIVE)
    document = (await inline_policies(world.clients, account))[active.policy_name or ""]
    assert granted_pairs(document) == {("s3:GetObject", prefix)}


async def test_wildcards_spanning_buckets_tables_or_accounts_are_refused(world: Sandbox) -> None:
    account = world.accounts["development"]
    for service, action, arn, named in [
        ("s3", "s3:GetObject", "arn:aws:s3:::acme-*", "BucketName"),
        ("s3", "s3:GetObject", "arn:aws:s3:::*/reports/x", "BucketName"),
        (
            "dynamodb",
            "dynamodb:GetItem",
            f"arn:aws:dynamodb:eu-west-1:{account.account_id}:table/*",
            "TableName",
        ),
        ("dynamodb", "dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:*:table/orders", "account"),
        ("s3", "s3:GetObject", "arn:aws-cn:s3:::acme-data/x", "partition"),
        ("s3", "s3:GetObject", "arn:aws:s3:::acme-data/${aws:username}/*", "policy variable"),
    ]:
        ack = await world.request(service=service, actions=[action], arns=[arn])
        assert ack["response_action"] == "errors", arn
        assert named in " ".join(ack["errors"].values()), (arn, ack["errors"])
    assert await nothing_stored(world)


async def test_forged_option_values_are_refused_and_nothing_is_stored(world: Sandbox) -> None:
    foreign_table = "arn:aws:dynamodb:eu-west-1:999999999999:table/orders"
    for service, action, forged in [
        ("dynamodb", "dynamodb:GetItem", foreign_table),
        ("s3", "s3:GetObject", "arn:aws:s3:::*"),
        ("s3", "s3:GetObject", "*"),
        ("s3", "s3:GetObject", "arn:aws:s3:::someone-elses-bucket"),
    ]:
        previous = world.emulator.top_view(REQUESTER)
        await world.emulator.slash_command(REQUESTER, "/request")
        modal = await world.emulator.wait_for_view(
            REQUESTER, views.REQUEST_CALLBACK, other_than=previous
        )
        await modal.fill(views.REASON_ACTION, "forged")
        await modal.select(views.DURATION_ACTION, "15")
        await modal.select(views.ACCOUNT_ACTION, "development")
        await modal.wait_updated()
        await modal.select(views.LOGIN_ROLE_ACTION, LOGIN_ROLE)
        await modal.suggest(views.SERVICE_ACTION, service)
        await modal.select(views.SERVICE_ACTION, service)
        await modal.wait_updated()
        answer = await modal.suggest(views.ACTIONS_ACTION, action.split(":")[1])
        picked = [o for g in answer["option_groups"] for o in g["options"] if o["value"] == action]
        await modal.select_many(views.ACTIONS_ACTION, picked)
        option = {"text": {"type": "plain_text", "text": "orders"}, "value": forged}
        await modal.select_many(views.RESOURCES_ACTION, [option])

        ack = await modal.submit()

        assert ack["response_action"] == "errors", forged
        assert "pick them again from the list" in " ".join(ack["errors"].values())
        await modal.close()
    assert await nothing_stored(world)
