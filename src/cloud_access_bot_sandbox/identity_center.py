"""An IAM Identity Center instance in moto (tests and demo): its config, users, permission
sets, and a helper reading the assignments AWS holds."""

from __future__ import annotations

from typing import Any

from cloud_access_bot.aws.clients import AwsClients
from cloud_access_bot.config import IdentityCenterConfig

IDC_ROLE = "arn:aws:iam::333333333333:role/cloud-access-bot"
STORE_ID = "d-1234567890"


async def seed_identity_center(
    clients: AwsClients,
    *,
    users: dict[str, str] | None = None,
    permission_sets: dict[str, str] | None = None,
) -> tuple[IdentityCenterConfig, dict[str, str], dict[str, str]]:
    """Users (UserName → email) and permission sets (name → description) in moto's instance;
    returns the config, the user ids by UserName and the permission set ARNs by name."""
    users = users if users is not None else {"alice": "alice@example.com"}
    sets = permission_sets or {
        "ReadOnlyAccess": "Read everything",
        "AdministratorAccess": "Everything",
    }
    user_ids: dict[str, str] = {}
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
    arns: dict[str, str] = {}
    async with clients.assumed("sso-admin", IDC_ROLE) as sso:
        instance = (await sso.list_instances())["Instances"][0]["InstanceArn"]
        for name, description in sets.items():
            made = await sso.create_permission_set(
                InstanceArn=instance, Name=name, Description=description
            )
            arns[name] = str(made["PermissionSet"]["PermissionSetArn"])
    config = IdentityCenterConfig(
        region="eu-west-1", instance_arn=instance, identity_store_id=STORE_ID, iam_role=IDC_ROLE
    )
    return config, user_ids, arns


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
