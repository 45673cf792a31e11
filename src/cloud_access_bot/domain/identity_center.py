"""Rules for IAM Identity Center requests: which permission set or group, for how long (pure)."""

from __future__ import annotations

from cloud_access_bot.config import AccessMode, BotConfig


def target_problems(
    config: BotConfig,
    account_name: str,
    *,
    permission_set: str | None,
    group: str | None,
    minutes: int,
) -> dict[str, str]:
    """Problems with a request for a permission set or a group in the account, by field.

    The account's mode decides which of the two it may ask for; the other must be absent.
    """
    account = config.account(account_name)
    if account is None:
        return {"account": f"Unknown account {account_name!r}: pick one from the list."}
    if account.access_mode is AccessMode.PERMISSION_SET and group is None:
        offered = [rule.name for rule in account.permission_sets]
        target, what = permission_set, "permission set"
    elif account.access_mode is AccessMode.GROUP_MEMBERSHIP and permission_set is None:
        offered = list(config.identity_center.groups) if config.identity_center else []
        target, what = group, "group"
    else:
        return {"account": f"{account_name} does not grant what was asked for."}
    if target not in offered:
        return {
            "permission_set": f"{target!r} is not a {what} offered in {account_name}; "
            f"choose one of {', '.join(offered)}."
        }
    cap = config.max_duration_for(account_name, target)
    offered_minutes = config.durations_for(account_name, target)
    if minutes > cap:
        return {
            "duration": f"{minutes} minutes is longer than the {cap}-minute maximum for "
            f"{target} in {account_name}."
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
