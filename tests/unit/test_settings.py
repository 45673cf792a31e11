"""Environment settings: perkbox names, one-line errors naming the variable, tokens never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_access_bot.settings import SettingsError, load_settings

APP_TOKEN = "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef"
BOT_TOKEN = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
VARIABLES = (
    "SLACK_APP_TOKEN",
    "SLACK_BOT_TOKEN",
    "BOT_CONFIG_S3_BUCKET",
    "BOT_CONFIG_S3_KEY",
    "BOT_CONFIG_FILE",
    "SLACK_API_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "CONFIG_POLL_SECONDS",
    "HEALTH_FILE",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An empty environment for the bot's variables, run from a folder without a .env."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def error_of(*, require_slack: bool) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(require_slack=require_slack)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_perkbox_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    env.setenv("BOT_CONFIG_S3_BUCKET", "request-access-bot-config")
    env.setenv("BOT_CONFIG_S3_KEY", "config.yml")

    settings = load_settings(require_slack=True)

    assert settings.config_location == "s3://request-access-bot-config/config.yml"
    assert settings.slack_app_token is not None
    assert settings.slack_app_token.get_secret_value() == APP_TOKEN
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.aws_region == "eu-west-1"
    assert settings.aws_endpoint_url is None
    assert settings.log_level == "INFO"
    assert settings.log_format == "auto"
    assert settings.config_poll_seconds == 60
    assert settings.health_file == Path("/tmp/cloud-access-bot.health")


def test_tokens_never_appear_in_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    env.setenv("BOT_CONFIG_FILE", "bot.yml")

    settings = load_settings(require_slack=True)

    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert APP_TOKEN not in text
        assert BOT_TOKEN not in text


def test_env_file_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"SLACK_APP_TOKEN={APP_TOKEN}\nSLACK_BOT_TOKEN={BOT_TOKEN}\nBOT_CONFIG_FILE=local.yml\n"
        "OTHER_TOOL_SETTING=ignored\n"
    )

    settings = load_settings(require_slack=True)

    assert settings.config_location == "local.yml"


def test_region_falls_back_to_aws_default_region(env: pytest.MonkeyPatch) -> None:
    env.setenv("BOT_CONFIG_FILE", "bot.yml")
    env.setenv("AWS_DEFAULT_REGION", "us-east-2")
    assert load_settings(require_slack=False).aws_region == "us-east-2"

    env.setenv("AWS_REGION", "eu-central-1")
    assert load_settings(require_slack=False).aws_region == "eu-central-1"


def test_missing_token_is_one_line_naming_the_variable(env: pytest.MonkeyPatch) -> None:
    env.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    env.setenv("BOT_CONFIG_FILE", "bot.yml")

    message = error_of(require_slack=True)

    assert message == "SLACK_BOT_TOKEN: not set (the Slack token starting with xoxb-)"


def test_tokens_are_not_needed_to_check_config(env: pytest.MonkeyPatch) -> None:
    env.setenv("BOT_CONFIG_FILE", "bot.yml")

    assert load_settings(require_slack=False).slack_bot_token is None


def test_malformed_token_is_named_but_not_echoed(env: pytest.MonkeyPatch) -> None:
    env.setenv("SLACK_APP_TOKEN", BOT_TOKEN)  # the two tokens swapped
    env.setenv("SLACK_BOT_TOKEN", APP_TOKEN)
    env.setenv("BOT_CONFIG_FILE", "bot.yml")

    message = error_of(require_slack=True)

    assert "SLACK_APP_TOKEN" in message
    assert "xapp-" in message
    assert "SLACK_BOT_TOKEN" in message
    assert APP_TOKEN not in message
    assert BOT_TOKEN not in message
    assert "1234567890" not in message


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "no configuration source: set BOT_CONFIG_S3_BUCKET and BOT_CONFIG_S3_KEY"),
        ({"BOT_CONFIG_S3_BUCKET": "b"}, "BOT_CONFIG_S3_BUCKET is set but BOT_CONFIG_S3_KEY"),
        ({"BOT_CONFIG_S3_KEY": "k"}, "BOT_CONFIG_S3_KEY is set but BOT_CONFIG_S3_BUCKET"),
        (
            {"BOT_CONFIG_FILE": "f", "BOT_CONFIG_S3_BUCKET": "b", "BOT_CONFIG_S3_KEY": "k"},
            "set either BOT_CONFIG_FILE or BOT_CONFIG_S3_BUCKET + BOT_CONFIG_S3_KEY, not both",
        ),
    ],
)
def test_exactly_one_config_source(
    env: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)

    assert expected in error_of(require_slack=False)


def test_config_source_not_needed_for_health(env: pytest.MonkeyPatch) -> None:
    env.setenv("HEALTH_FILE", "/run/bot.health")

    settings = load_settings(require_slack=False, require_config_source=False)

    assert settings.health_file == Path("/run/bot.health")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SLACK_API_URL", "https://slack.example/api", "SLACK_API_URL: must be an http(s) URL"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: must be one of DEBUG, INFO"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: input should be 'json', 'text' or 'auto'"),
        ("CONFIG_POLL_SECONDS", "0", "CONFIG_POLL_SECONDS: input should be greater than 0"),
    ],
)
def test_invalid_values_name_the_variable(
    env: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    env.setenv("BOT_CONFIG_FILE", "bot.yml")
    env.setenv(name, value)

    assert error_of(require_slack=False).startswith(expected)


def test_values_are_normalised(env: pytest.MonkeyPatch) -> None:
    env.setenv("BOT_CONFIG_FILE", "bot.yml")
    env.setenv("LOG_LEVEL", "debug")
    env.setenv("SLACK_API_URL", "http://127.0.0.1:8888/api/")
    env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

    settings = load_settings(require_slack=False)

    assert settings.log_level == "DEBUG"
    assert settings.slack_api_url == "http://127.0.0.1:8888/api/"
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
