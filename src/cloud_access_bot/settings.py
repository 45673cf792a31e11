"""Process environment (perkbox-compatible variable names), read from the environment and `.env`.

Slack tokens are only needed to run the bot, not to check a configuration, so presence and shape
of the tokens are checked by :func:`load_settings` on request. Error messages name the variable
and never contain its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TOKEN_PREFIXES = {"SLACK_APP_TOKEN": "xapp-", "SLACK_BOT_TOKEN": "xoxb-"}


class SettingsError(Exception):
    """The environment cannot be used; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        hide_input_in_errors=True,
        frozen=True,
    )

    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    bot_config_s3_bucket: str | None = Field(default=None, alias="BOT_CONFIG_S3_BUCKET")
    bot_config_s3_key: str | None = Field(default=None, alias="BOT_CONFIG_S3_KEY")
    bot_config_file: str | None = Field(default=None, alias="BOT_CONFIG_FILE")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    aws_region: str = Field(
        default="eu-west-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    aws_endpoint_url: str | None = Field(default=None, alias="AWS_ENDPOINT_URL")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_format: Literal["json", "text", "auto"] = Field(default="auto", alias="LOG_FORMAT")
    config_poll_seconds: float = Field(default=60, gt=0, alias="CONFIG_POLL_SECONDS")
    health_file: Path = Field(default=Path("/tmp/cloud-access-bot.health"), alias="HEALTH_FILE")
    metrics_emf: bool = Field(default=True, alias="METRICS_EMF")
    metrics_port: int | None = Field(default=None, ge=1, le=65535, alias="METRICS_PORT")

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or not value.endswith("/"):
            raise ValueError("must be an http(s) URL ending with '/' (e.g. https://slack.com/api/)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if isinstance(value, str) and value.upper() in LOG_LEVELS:
            return value.upper()
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")

    @property
    def config_location(self) -> str | None:
        """Where the YAML configuration lives (s3://bucket/key or a path), if set."""
        if self.bot_config_file:
            return self.bot_config_file
        if self.bot_config_s3_bucket and self.bot_config_s3_key:
            return f"s3://{self.bot_config_s3_bucket}/{self.bot_config_s3_key}"
        return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _describe(exc: ValidationError) -> str:
    """The variables and what is wrong with each, on one line, never the values.

    pydantic reports the location by alias, which is the environment variable's name.
    """
    return "; ".join(
        f"{error['loc'][0] if error['loc'] else 'environment'}: "
        f"{_lower_first(str(error['msg']).removeprefix('Value error, '))}"
        for error in exc.errors(include_input=False)
    )


def _config_source_problem(settings: Settings) -> str | None:
    has_file = settings.bot_config_file is not None
    bucket, key = settings.bot_config_s3_bucket, settings.bot_config_s3_key
    if has_file and (bucket or key):
        return "set either BOT_CONFIG_FILE or BOT_CONFIG_S3_BUCKET + BOT_CONFIG_S3_KEY, not both"
    if bucket and not key:
        return "BOT_CONFIG_S3_BUCKET is set but BOT_CONFIG_S3_KEY is not"
    if key and not bucket:
        return "BOT_CONFIG_S3_KEY is set but BOT_CONFIG_S3_BUCKET is not"
    if not (has_file or bucket):
        return (
            "no configuration source: set BOT_CONFIG_S3_BUCKET and BOT_CONFIG_S3_KEY, "
            "or BOT_CONFIG_FILE"
        )
    return None


def _token_problem(name: str, token: SecretStr | None) -> str | None:
    prefix = TOKEN_PREFIXES[name]
    if token is None:
        return f"{name}: not set (the Slack token starting with {prefix})"
    if not token.get_secret_value().startswith(prefix):
        return f"{name}: not a token of the right kind (it must start with {prefix})"
    return None


def load_settings(
    *,
    require_slack: bool,
    require_config_source: bool = True,
    env_file: str | Path | None = ".env",
) -> Settings:
    """Read the environment; raise SettingsError with one line naming every bad variable."""
    try:
        settings = Settings(_env_file=env_file)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    problems = []
    if require_config_source:
        problems.append(_config_source_problem(settings))
    if require_slack:
        problems.append(_token_problem("SLACK_APP_TOKEN", settings.slack_app_token))
        problems.append(_token_problem("SLACK_BOT_TOKEN", settings.slack_bot_token))
    found = [problem for problem in problems if problem]
    if found:
        raise SettingsError("; ".join(found))
    return settings
