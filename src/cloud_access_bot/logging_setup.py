"""Logging for containers (JSON lines) and terminals (readable text), with secrets redacted.

The redaction filter sits on the handler, so it sees every record that is written, whichever
logger (ours, bolt, botocore) emitted it, and scrubs the message, its arguments, extra fields and
formatted tracebacks before any formatter runs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

REDACTED = "[REDACTED]"

#: Names under which a secret travels: AWS credentials (STS answers, environment variables,
#: the signed request's headers), federation sign-in tokens, Slack tokens and the Socket Mode
#: connection ticket (whoever holds the ``wss://…?ticket=`` URL can take the bot's connection).
#: Matched as whole names, any case, wherever a value is attached to them.
SECRET_NAMES = (
    "SecretAccessKey",
    "SessionToken",
    "SigninToken",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
    "secret_access_key",
    "session_token",
    "security_token",
    "x-amz-security-token",
    "sessionKey",
    "token",
    "access_token",
    "refresh_token",
    "client_secret",
    "password",
    "ticket",
    "Authorization",
)

#: Everyday words among the names: bare (unquoted) they count only before ``=`` (a query
#: string, an assignment), so prose such as "bot token: valid" is left alone.
_WORDS = frozenset({"token", "ticket", "password"})


def _alternatives(names: Iterable[str]) -> str:
    return "(?:" + "|".join(re.escape(name) for name in names) + ")"


_NAME = _alternatives(SECRET_NAMES)
#: A name stands alone: not the end or the start of a longer identifier (``next_token``).
_KEY = rf"(?<![\w-]){_NAME}(?![\w-])"
_FIELD_KEY = rf"(?<![\w-]){_alternatives(n for n in SECRET_NAMES if n not in _WORDS)}(?![\w-])"
_WORD_KEY = rf"(?<![\w-]){_alternatives(sorted(_WORDS))}(?![\w-])"

_SECRET_NAME = re.compile(rf"(?i)^{_NAME}$")

#: (pattern, replacement), by structure, never by what a value looks like: order matters,
#: whole links before their parts, quoted values before bare ones.
_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Console sign-in links carry a token valid for 15 minutes: drop the whole link.
    (re.compile(r"https?://[^\s\"'<>]*signin\.[^\s\"'<>]*/federation\?[^\s\"'<>]*"), REDACTED),
    # Slack tokens wherever they appear: bot/user/app/refresh/config and app-level tokens.
    (re.compile(r"\bxox[a-z](?:-[0-9A-Za-z-]+)+"), REDACTED),
    (re.compile(r"\bxapp-[0-9A-Za-z-]+"), REDACTED),
    # XML elements (STS, IAM and federation answers): <SecretAccessKey>…</SecretAccessKey>.
    (
        re.compile(rf"(?i)(<({_NAME})>)[^<]*(</\2>)"),
        lambda m: m.group(1) + REDACTED + m.group(3),
    ),
    # A quoted key and a quoted value (JSON, Python reprs, bytes): "key": "value", 'key': b'v'.
    (
        re.compile(rf"(?i)([\"']{_KEY}[\"']\s*[:=]\s*b?)([\"'])(?:\\.|(?!\2).)*\2"),
        lambda m: m.group(1) + m.group(2) + REDACTED + m.group(2),
    ),
    # An HTTP Authorization header: its value runs to the end of the line or quoted text.
    (
        re.compile(r"(?i)((?<![\w-])Authorization\s*[:=]\s*)[^\r\n\"']+"),
        lambda m: m.group(1) + REDACTED,
    ),
    # key=value and key: value (query strings, environment lines, signed headers).
    (
        re.compile(
            rf"(?i)((?:{_FIELD_KEY}[\"']?\s*[:=]|{_WORD_KEY}[\"']?\s*=)\s*b?[\"']?)"
            r"[^\s\"',&;}<>]+"
        ),
        lambda m: m.group(1) + REDACTED,
    ),
)

#: Attributes every LogRecord has; anything else was passed through ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)

_NOISY_LIBRARIES = ("botocore", "aiobotocore", "boto3", "aioboto3", "urllib3", "werkzeug")


def redact(text: str) -> str:
    """Replace Slack tokens, sign-in links and every value attached to a secret's name."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _redact_field(name: str, value: Any) -> Any:
    """A field named like a secret is hidden whole; others are scrubbed by content."""
    return REDACTED if _SECRET_NAME.match(name) else _redact_value(value)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _redact_field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class RedactingFilter(logging.Filter):
    """Scrub secrets from a record in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in extra_fields(record).items():
            setattr(record, key, _redact_field(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


#: Library warnings about how the bot is built, not about anything an operator can act on:
#: Bolt's when an app gets a client while SLACK_BOT_TOKEN is set, which is how the runtime
#: always builds it (the client shares one HTTP session and has retry handlers). The text is
#: slack_bolt.logger.messages.warning_client_prioritized_and_token_skipped(), copied so that
#: logging (and so ``cloud-access-bot health``) does not import Bolt.
_EXPECTED_NOTICES = frozenset({"As you gave `client` as well, `token` will be unused."})


class ExpectedNoticeFilter(logging.Filter):
    """Drop the library notices in ``_EXPECTED_NOTICES``, at every start otherwise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in _EXPECTED_NOTICES


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value…`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{k}={json.dumps(v, default=str, ensure_ascii=False)}"
            for k, v in extra_fields(record).items()
        )
        line = (
            f"{datetime.fromtimestamp(record.created, UTC):%H:%M:%S} {record.levelname:<7} "
            f"{record.name}: {record.getMessage()}"
        )
        if fields:
            line = f"{line}  {fields}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{record.stack_info}"
        return line


class _BotHandler(logging.StreamHandler[TextIO]):
    """Marks the handler configure_logging installed, so a second call replaces it."""


def configure_logging(
    level: str | int,
    fmt: Literal["json", "text", "auto"] = "auto",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every log record to ``stream`` (stderr by default), redacted, in the chosen format.

    ``auto`` writes text to a terminal and JSON lines otherwise (containers, files, pipes).
    AWS SDK and HTTP libraries are kept at WARNING unless DEBUG is asked for.
    """
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        fmt = "text" if out.isatty() else "json"
    handler = _BotHandler(out)
    handler.addFilter(ExpectedNoticeFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _BotHandler)]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Python warnings (DeprecationWarning from a library…) become records of this handler
    # too, instead of bare text on stderr.
    logging.captureWarnings(True)
    library_level = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
    return handler
