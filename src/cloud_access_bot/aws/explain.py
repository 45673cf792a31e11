"""One line for an operator from any AWS failure: the cause, then what to do about it.

Used wherever a person reads the error (check-config, audit, the start-up checks), so that a
missing credential, a denied call, throttling, a missing table or an unreachable endpoint is
never a traceback.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from cloud_access_bot.aws.errors import EXPIRED_TOKEN_CODES, UNAVAILABLE_CODES, error_code

DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403"}
)
BAD_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AuthFailure",
    }
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "404"})
THROTTLED_CODES = UNAVAILABLE_CODES | {"SlowDown", "TooManyRequestsException"}

NO_CREDENTIALS_FIX = (
    "give the process AWS credentials (a task or instance role, AWS_PROFILE, or "
    "AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY)"
)


def root_cause(exc: BaseException) -> BaseException:
    """The botocore error behind a wrapper (StoreUnavailable, …) raised ``from`` it."""
    while not isinstance(exc, ClientError | BotoCoreError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def explain(exc: BaseException, *, action: str, resource: str) -> str:
    """``<resource>: <cause>; <what to do>`` for ``exc`` raised while calling ``action``."""
    cause = root_cause(exc)
    code = error_code(cause)
    if isinstance(cause, NoCredentialsError | PartialCredentialsError):
        return f"{resource}: no AWS credentials found; {NO_CREDENTIALS_FIX}"
    if isinstance(cause, NoRegionError):
        return f"{resource}: no AWS region set; set AWS_REGION (e.g. eu-west-1)"
    if isinstance(cause, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return (
            f"{resource}: cannot reach AWS ({cause}); check the network, AWS_REGION and "
            "AWS_ENDPOINT_URL (unset it to reach AWS itself)"
        )
    if code in EXPIRED_TOKEN_CODES:
        return f"{resource}: the AWS credentials have expired; refresh them and run again"
    if code in BAD_CREDENTIAL_CODES:
        return f"{resource}: AWS rejected the credentials ({code}); check which ones are in use"
    if code in DENIED_CODES:
        return f"{resource}: access denied ({code}); the caller's IAM policy needs {action}"
    if code in THROTTLED_CODES:
        return f"{resource}: AWS is throttling or unavailable ({code}); try again in a minute"
    if code in NOT_FOUND_CODES:
        return f"{resource}: not found ({code}); check the name and the region (AWS_REGION)"
    if isinstance(cause, ClientError):
        message = cause.response.get("Error", {}).get("Message", "")
        return f"{resource}: AWS refused {action} ({code}: {message})"
    if isinstance(cause, OSError):
        return f"{resource}: cannot reach AWS ({cause.strerror or cause}); check the network"
    return f"{resource}: {action} failed ({type(cause).__name__}: {cause})"
