"""Rules for IAM Identity Center requests: which permission set, for how long (pure)."""

from __future__ import annotations

from cloud_access_bot.config import AccessMode, BotConfig


def permission_set_problems(
    config: BotConfig, account_name: str, permission_set: str, minutes: int
) -> dict[str, str]:
    """Problems with a request for ``permission_set`` in the account, keyed by field."""
    account = config.account(account_name)
    if account is None:
        return {"account": f"Unknown account {account_name!r}: pick one from the list."}
    if account.access_mode is not AccessMode.PERMISSION_SET:
        return {"account": f"{account_name} does not grant IAM Identity Center permission sets."}
    if account.permission_set(permission_set) is None:
        offered = ", ".join(rule.name for rule in account.permission_sets)
        return {
            "permission_set": f"{permission_set!r} is not offered in {account_name}; "
            f"choose one of {offered}."
        }
    cap = config.max_duration_for(account_name, permission_set)
    offered_minutes = config.durations_for(account_name, permission_set)
    if minutes > cap:
        return {
            "duration": f"{minutes} minutes is longer than the {cap}-minute maximum for "
            f"{permission_set} in {account_name}."
        }
    if minutes not in offered_minutes:
        listed = ", ".join(str(m) for m in offered_minutes)
        return {"duration": f"{minutes} minutes is not an offered duration ({listed} minutes)."}
    return {}


def no_identity_center_user(email: str) -> str:
    """What a requester without an Identity Center user is told (at submit and at grant)."""
    return (
        f"No IAM Identity Center user matches your Slack email ({email}): ask an Identity "
        "Center administrator to create one or to set this email on yours."
    )
