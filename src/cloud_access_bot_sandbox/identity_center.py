"""An IAM Identity Center instance in moto (tests and demo): its config, users, groups,
permission sets, and helpers reading the assignments and memberships AWS holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.config import BotConfig, IdentityCenterConfig
from cloud_access_bot.slack import identity_center_views as ic_views
from cloud_access_bot.slack import views
from cloud_access_bot_sandbox.scenario import ACCOUNTS, REQUESTER, sandbox_config
from cloud_access_bot_sandbox.slack_emulator import SlackEmulator

IDC_ROLE = "arn:aws:iam::333333333333:role/cloud-access-bot"
STORE_ID = "d-1234567890"
PERMISSION_SETS = {"ReadOnlyAccess": "Read everything", "AdministratorAccess": "Everything"}


@dataclass(frozen=True)
class SeededIdentityCenter:
    config: IdentityCenterConfig
    #: Ids by UserName, ARNs by permission set name, ids by group name.
    users: dict[str, str]
    permission_sets: dict[str, str]
    groups: dict[str, str]


async def seed_identity_center(
    clients: AwsClients,
    *,
    users: Mapping[str, str] | None = None,
    permission_sets: Mapping[str, str] = PERMISSION_SETS,
    groups: Sequence[str] = ("prod-support",),
) -> SeededIdentityCenter:
    """Users (UserName → email), permission sets (name → description) and groups in moto's
    instance, reached through IDC_ROLE."""
    users = users if users is not None else {"alice": "alice@example.com"}
    user_ids: dict[str, str] = {}
    group_ids: dict[str, str] = {}
    async with clients.assumed("identitystore", IDC_ROLE) as identitystore:
        for name, email in users.items():
            made = await identitystore.create_user(
                IdentityStoreId=STORE_ID,
                UserName=name,
                DisplayName=name.title(),
                Name={"GivenName": name.title(), "FamilyName": "Example"},
                Emails=[{"Value": email, "Type": "work", "Primary": True}],
            )
            user_ids[name] = str(made["UserId"])
        for group in groups:
            made = await identitystore.create_group(IdentityStoreId=STORE_ID, DisplayName=group)
            group_ids[group] = str(made["GroupId"])
    arns: dict[str, str] = {}
    async with clients.assumed("sso-admin", IDC_ROLE) as sso:
        instance = (await sso.list_instances())["Instances"][0]["InstanceArn"]
        for name, description in permission_sets.items():
            made = await sso.create_permission_set(
                InstanceArn=instance, Name=name, Description=description
            )
            arns[name] = str(made["PermissionSet"]["PermissionSetArn"])
    config = IdentityCenterConfig(
        region="eu-west-1",
        instance_arn=instance,
        identity_store_id=STORE_ID,
        iam_role=IDC_ROLE,
        groups={group: {} for group in groups},
    )
    return SeededIdentityCenter(config, user_ids, arns, group_ids)


async def assignments(
    clients: AwsClients, config: IdentityCenterConfig, account_id: str, permission_set_arn: str
) -> list[dict[str, Any]]:
    """The account assignments of the permission set, as Identity Center holds them."""
    async with clients.assumed("sso-admin", IDC_ROLE) as sso:
        answer = await sso.list_account_assignments(
            InstanceArn=config.instance_arn,
            AccountId=account_id,
            PermissionSetArn=permission_set_arn,
        )
    return list(answer["AccountAssignments"])


async def members(clients: AwsClients, config: IdentityCenterConfig, group_id: str) -> list[str]:
    """The user ids in the group, as the identity store holds them."""
    async with clients.assumed("identitystore", IDC_ROLE) as identitystore:
        answer = await identitystore.list_group_memberships(
            IdentityStoreId=config.identity_store_id, GroupId=group_id
        )
    return [m["MemberId"]["UserId"] for m in answer["GroupMemberships"]]


async def permission_set_names(clients: AwsClients, config: IdentityCenterConfig) -> list[str]:
    """The names of every permission set in the instance (a name may repeat in moto); a set
    deleted between the listing and its description is left out."""
    names: list[str] = []
    async with clients.assumed("sso-admin", IDC_ROLE) as sso:
        pages = sso.get_paginator("list_permission_sets")
        async for page in pages.paginate(InstanceArn=config.instance_arn):
            for arn in page["PermissionSets"]:
                try:
                    described = await sso.describe_permission_set(
                        InstanceArn=config.instance_arn, PermissionSetArn=arn
                    )
                except sso.exceptions.ResourceNotFoundException:
                    continue
                names.append(str(described["PermissionSet"]["Name"]))
    return names


async def ask_for(
    emulator: SlackEmulator,
    permission_set: str,
    *,
    user: str = REQUESTER,
    duration: int = 15,
    account: str = "production",
) -> dict[str, Any]:
    """Open /request, pick the account, then the permission set (or group), as a person would;
    returns the submit ack."""
    await emulator.slash_command(user, "/request")
    modal = await emulator.wait_for_view(user, views.REQUEST_CALLBACK)
    await modal.select(views.ACCOUNT_ACTION, account)
    await modal.wait_updated()
    assert modal.callback_id == ic_views.PERMISSION_SET_CALLBACK
    await modal.fill(views.REASON_ACTION, "Check the prod dashboards")
    await modal.select(views.DURATION_ACTION, str(duration))
    await modal.select(ic_views.PERMISSION_SET_ACTION, permission_set)
    return await modal.submit()


def identity_center_config(
    center: IdentityCenterConfig, permission_sets: Sequence[Any] = ("ReadOnlyAccess",)
) -> BotConfig:
    """The sandbox's configuration with Identity Center: production assigns
    ``permission_sets``, development makes a permission set per request."""
    accounts: dict[str, Any] = {
        name: {"account_number": number, "iam_role": f"arn:aws:iam::{number}:role/cloud-access-bot"}
        for name, number in ACCOUNTS.items()
    }
    accounts["development"] |= {"access_mode": "request_permission_set"}
    accounts["production"] |= {
        "access_mode": "permission_set",
        "permission_sets": list(permission_sets),
    }
    return sandbox_config(accounts=accounts, identity_center=center.model_dump(mode="json"))
