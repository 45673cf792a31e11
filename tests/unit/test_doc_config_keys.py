"""config.example.yml documents every configuration key (as a key or a commented-out key).

An operator reads that file to learn what can be set; a key added to config.py without a line
there is a setting nobody finds.
"""

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices, BaseModel

from cloud_access_bot import config

EXAMPLE = (Path(__file__).resolve().parents[2] / "config.example.yml").read_text()

MODELS: list[type[BaseModel]] = [
    config.BotConfig,
    config.AccountConfig,
    config.RuleSettings,
    config.RuleMatch,
    config.AccountRule,
    config.OrganizationsConfig,
    config.IdentityCenterConfig,
    config.AuditArchive,
    config.Eligibility,
    config.AutoApproveRule,
    config.TargetRule,
    config.PermissionSetRule,
    config.Preset,
]


def _names(field_name: str, alias: object) -> set[str]:
    names = {field_name}
    if isinstance(alias, AliasChoices):
        names |= {choice for choice in alias.choices if isinstance(choice, str)}
    return names


def _documented(name: str) -> bool:
    """``name:`` as a key, in use or commented out (``# name: …``), anywhere in the file."""
    return re.search(rf"^[\s#-]*{re.escape(name)}:", EXAMPLE, re.MULTILINE) is not None


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_config_key_is_in_the_example_file(model: type[BaseModel]) -> None:
    missing = [
        name
        for name, field in model.model_fields.items()
        if not any(_documented(key) for key in _names(name, field.validation_alias))
    ]
    assert missing == [], f"{model.__name__} keys not in config.example.yml: {missing}"
