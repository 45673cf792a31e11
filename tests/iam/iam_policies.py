"""The bot's IAM policies as Terraform writes them: terraform/policies/*.json.tftpl rendered with
the same ``${name}`` placeholders, and combined per access mode as the target-account module
combines them (terraform/policies/target-account-role.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

POLICIES = Path(__file__).resolve().parents[2] / "terraform" / "policies"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

Document = dict[str, Any]


def render(name: str, **values: str | list[str]) -> Document:
    """Template ``name`` with every ``${key}`` replaced; lists go in as JSON, as Terraform passes
    them (``jsonencode``). A placeholder without a value is an error, as in ``templatefile``."""
    text = (POLICIES / f"{name}.json.tftpl").read_text()

    def value(match: re.Match[str]) -> str:
        found = values[match[1]]
        return json.dumps(found) if isinstance(found, list) else found

    return dict(json.loads(_PLACEHOLDER.sub(value, text)))


def combined(names: list[str], **values: str | list[str]) -> Document:
    """One document with the statements of every template in ``names``."""
    statements = [s for name in names for s in render(name, **values)["Statement"]]
    return {"Version": "2012-10-17", "Statement": statements}


def target_account_role(
    access_mode: str,
    *,
    account_id: str,
    login_role_names: list[str],
    name: str = "cloud-access-bot",
) -> Document:
    """The permission policy of modules/target-account-role in ``account_id`` with the module's
    defaults (broker ``cloud-access-bot-broker``, grants policy under /cloud-access-bot/)."""
    prefix = f"arn:aws:iam::{account_id}"
    parts = json.loads((POLICIES / "target-account-role.json").read_text())[access_mode]
    return combined(
        [f"target-account-role-{part}" for part in parts],
        role_arn=f"{prefix}:role/{name}",
        broker_role_arn=f"{prefix}:role/cloud-access-bot-broker",
        login_role_arns=[
            a for n in login_role_names for a in (f"{prefix}:role/{n}", f"{prefix}:role/*/{n}")
        ],
        grants_policy_arn=f"{prefix}:policy/cloud-access-bot/cloud-access-bot-grants",
        bot_policy_arns=f"{prefix}:policy/cloud-access-bot/*",
    )
