"""An IAM Identity Center instance in moto (tests and demo): its config, users, groups,
permission sets, and helpers reading the assignments and memberships AWS holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.config import IdentityCenterConfig

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
