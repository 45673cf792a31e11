"""Access presets: form defaults from config bundles, and the policies they lead to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud_access_bot.config import Preset
from cloud_access_bot.domain.catalog import Catalog
from cloud_access_bot.domain.model import ServiceAccess
from cloud_access_bot.domain.policy import build_grant_policy
from cloud_access_bot.domain.presets import preset_defaults
from cloud_access_bot.slack.commands import preset_modal
from cloud_access_bot.slack.views import ACTIONS_ACTION, ModalState, block_id, prefilled_modal
from cloud_access_bot_sandbox.scenario import sandbox_config

CATALOG = Catalog.default()
SSM = Preset(
    description="Shell on an instance",
    actions=["ssm:StartSession", "ssm:TerminateSession", "ssm:ResumeSession"],
)


def test_ssm_session_preset_defaults() -> None:
    defaults = preset_defaults("ssm-session", SSM.actions, CATALOG)
    assert defaults.service == "ssm"
    assert defaults.actions == ("ssm:StartSession", "ssm:TerminateSession", "ssm:ResumeSession")
    assert {"instance", "session"} <= set(defaults.resource_types)
    assert defaults.left_out == ()


def test_ssm_session_preset_grants_shell_on_one_instance_and_own_sessions_only() -> None:
    defaults = preset_defaults("ssm-session", SSM.actions, CATALOG)
    instance = "arn:aws:ec2:eu-west-1:111111111111:instance/i-0abc"
    sessions = "arn:aws:ssm:eu-west-1:111111111111:session/alice@example.com-*"
    start = datetime(2030, 1, 1, tzinfo=UTC)
    document = build_grant_policy(
        [ServiceAccess(defaults.service, defaults.actions, (instance, sessions))],
        userid="AROAEXAMPLE:alice@example.com",
        not_before=start,
        not_after=start + timedelta(hours=1),
        sid="abcdef012345",
        catalog=CATALOG,
    )
    granted = {
        action: statement["Resource"]
        for statement in document["Statement"]
        for action in statement["Action"]
    }
    assert granted == {
        "ssm:StartSession": [instance],
        "ssm:TerminateSession": [sessions],
        "ssm:ResumeSession": [sessions],
    }


def test_wildcards_are_expanded_and_other_services_left_out() -> None:
    preset = Preset(actions=["s3:List*", "s3:GetObject", "kms:Decrypt"])
    defaults = preset_defaults("s3-read", preset.actions, CATALOG)
    assert defaults.service == "s3"
    assert "s3:ListBucket" in defaults.actions and "s3:GetObject" in defaults.actions
    assert all(a.startswith("s3:List") for a in defaults.actions if a != "s3:GetObject")
    assert defaults.left_out == ("kms:Decrypt",)


def test_preset_of_unknown_actions_is_refused() -> None:
    with pytest.raises(ValueError, match="no known IAM action"):
        preset_defaults("typo", ["s3:GetObjekt"], CATALOG)


def test_prefilled_modal_picks_the_preset_actions() -> None:
    config = sandbox_config(presets={"ssm-session": SSM.model_dump()})
    defaults = preset_defaults("ssm-session", SSM.actions, CATALOG)
    state = ModalState("development", defaults.service)
    view = prefilled_modal(config, state, actions=defaults.actions, note="Preset ssm-session")
    [actions] = [b for b in view["blocks"] if b.get("block_id") == block_id("actions", state)]
    assert actions["element"]["action_id"] == ACTIONS_ACTION
    assert [o["value"] for o in actions["element"]["initial_options"]] == list(defaults.actions)
    assert view["blocks"][0]["type"] == "context"
    chooser = preset_modal(config, "ssm-session")
    assert chooser["blocks"][0]["element"]["initial_option"]["value"] == "ssm-session"
