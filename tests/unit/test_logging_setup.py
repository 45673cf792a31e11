"""Log output: JSON lines for containers, text for terminals, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

from cloud_access_bot.logging_setup import REDACTED, configure_logging, redact

BOT_TOKEN = "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
APP_TOKEN = "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef"
USER_TOKEN = "xoxp-1234567890-1234567890-1234567890123-0123456789abcdef"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQD" + "a1B2c3D4" * 40
SIGNIN_LINK = (
    "https://signin.aws.amazon.com/federation?Action=login&Issuer=cloud-access-bot"
    "&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken=VCQgTmiT5-Wpa2ZlY3M"
)
SECRETS = (BOT_TOKEN, APP_TOKEN, USER_TOKEN, SECRET_KEY, SESSION_TOKEN, "VCQgTmiT5")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """JSON logging into a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_json_line_fields(output: io.StringIO) -> None:
    logging.getLogger("cloud_access_bot.test").info(
        "granted %s to %s", "s3:GetObject", "ana", extra={"request_id": "abc123", "minutes": 15}
    )

    [entry] = lines(output)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "cloud_access_bot.test"
    assert entry["msg"] == "granted s3:GetObject to ana"
    assert entry["request_id"] == "abc123"
    assert entry["minutes"] == 15
    assert str(entry["ts"]).endswith("Z")


def test_level_filters(output: io.StringIO) -> None:
    logging.getLogger("x").debug("hidden")
    logging.getLogger("x").warning("shown")

    assert [e["msg"] for e in lines(output)] == ["shown"]


def test_secrets_in_message_args_and_extras_are_redacted(output: io.StringIO) -> None:
    log = logging.getLogger("cloud_access_bot.test")
    log.info("connecting with %s and %s", BOT_TOKEN, APP_TOKEN)
    log.info(
        "assumed role",
        extra={
            "credentials": {
                "AccessKeyId": "ASIAEXAMPLE123",
                "SecretAccessKey": SECRET_KEY,
                "SessionToken": SESSION_TOKEN,
            },
            "link": SIGNIN_LINK,
            "headers": ["Authorization: Bearer " + USER_TOKEN],
        },
    )
    log.info("env AWS_SECRET_ACCESS_KEY=%s AWS_SESSION_TOKEN=%s", "shortsecret", "short")

    text = output.getvalue()
    assert_no_secret(text)
    assert "shortsecret" not in text
    first, second, third = lines(output)
    assert first["msg"] == f"connecting with {REDACTED} and {REDACTED}"
    assert second["credentials"] == {
        "AccessKeyId": "ASIAEXAMPLE123",
        "SecretAccessKey": REDACTED,
        "SessionToken": REDACTED,
    }
    assert second["link"] == REDACTED
    assert third["msg"] == f"env AWS_SECRET_ACCESS_KEY={REDACTED} AWS_SESSION_TOKEN={REDACTED}"


def test_secrets_in_tracebacks_are_redacted(output: io.StringIO) -> None:
    try:
        raise RuntimeError(f"slack said no to {BOT_TOKEN} via {SIGNIN_LINK}")
    except RuntimeError:
        logging.getLogger("x").exception("call failed")

    [entry] = lines(output)
    assert "RuntimeError: slack said no to" in str(entry["exc"])
    assert_no_secret(output.getvalue())


def test_records_from_other_libraries_are_redacted(output: io.StringIO) -> None:
    logging.getLogger("slack_bolt.App").warning("token %s", BOT_TOKEN)

    [entry] = lines(output)
    assert (entry["logger"], entry["msg"]) == ("slack_bolt.App", f"token {REDACTED}")
    assert_no_secret(output.getvalue())


def test_text_format_is_readable_and_redacted() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure_logging("INFO", "text", stream)
        logging.getLogger("cloud_access_bot.svc").info(
            "approved %s", BOT_TOKEN, extra={"request_id": "abc"}
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    line = stream.getvalue().strip()
    assert line.endswith(f'INFO    cloud_access_bot.svc: approved {REDACTED}  request_id="abc"')


def test_auto_is_json_when_not_a_terminal(output: io.StringIO) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "auto", stream)
    logging.getLogger("x").info("hello")

    assert json.loads(stream.getvalue())["msg"] == "hello"
    assert output.getvalue() == ""  # the earlier handler was replaced, not duplicated


@pytest.mark.parametrize(
    "harmless",
    [
        "request 4b825dc642cb6eb9a060e54bf8d69288fbee4904 approved",  # a hex digest
        "arn:aws:iam::123456789012:role/SSO-Devops",
        "AccessKeyId ASIAIOSFODNN7EXAMPLE",
        "https://console.aws.amazon.com/iam/home",
    ],
)
def test_ordinary_text_is_left_alone(harmless: str) -> None:
    assert redact(harmless) == harmless


def test_bolts_notice_about_the_unused_token_is_not_written(output: io.StringIO) -> None:
    """The runtime always gives Bolt a client while SLACK_BOT_TOKEN is set: nothing to act on."""
    bolt = logging.getLogger("slack_bolt.AsyncApp")
    bolt.warning(warning_client_prioritized_and_token_skipped())
    bolt.warning("Unhandled request")

    assert [entry["msg"] for entry in lines(output)] == ["Unhandled request"]


def test_a_secret_key_without_digits_in_an_sts_answer_is_redacted() -> None:
    """Found by structure (the XML element), not by what the key looks like."""
    secret = "wJalrXUtnFEMIKxMDENGbPxRfiCYEXAMPLEKEYab"  # 40 characters, no digit
    body = (
        "Response body:\nb'<AssumeRoleResponse><AssumeRoleResult><Credentials>"
        f"<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>"
        "<SessionToken>FwoGZXIvYXdzEBYaDHVzZXJzZXNzaW9u</SessionToken>"
        "</Credentials></AssumeRoleResult></AssumeRoleResponse>'"
    )

    scrubbed = redact(body)

    assert secret not in scrubbed
    assert "FwoGZXIvYXdzEBYaDHVzZXJzZXNzaW9u" not in scrubbed
    assert "<AccessKeyId>ASIAEXAMPLE</AccessKeyId>" in scrubbed


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Starting to receive messages from a new connection (ws://h/link/?ticket=abc&x=1)", "abc"),
        (
            """body: {'ok': True, 'url': 'wss://wss.slack.com/link/?ticket=t-9f&app_id=A1'}""",
            "t-9f",
        ),
        ("""{"SigninToken": "short-token-value"}""", "short-token-value"),
        (
            """headers={'X-Amz-Security-Token': b'IQoJshort', 'Authorization': b'AWS4 Sig'}""",
            "IQoJshort",
        ),
        ("Authorization: AWS4-HMAC-SHA256 Credential=ASIA/x, Signature=deadbeef", "deadbeef"),
        ("x-amz-security-token:IQoJcanonical\nhost:sts", "IQoJcanonical"),
        ("[default]\naws_secret_access_key = onlyletters", "onlyletters"),
    ],
)
def test_secrets_are_found_by_the_name_they_travel_under(line: str, secret: str) -> None:
    assert secret not in redact(line)
