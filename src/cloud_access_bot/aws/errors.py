"""Reading botocore errors, and the one error the client factory raises itself."""

from __future__ import annotations

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

#: Codes AWS uses when the session token of a request has expired.
EXPIRED_TOKEN_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})

#: Codes that mean "try again later" once botocore's own retries are used up.
UNAVAILABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


class AssumeRoleError(Exception):
    """The bot could not assume a role in a target account (trust policy, missing role, SCP…)."""

    def __init__(self, role_arn: str, code: str, detail: str) -> None:
        self.role_arn = role_arn
        self.code = code
        self.detail = detail
        super().__init__(f"cannot assume {role_arn}: {code}: {detail}")


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (``""`` for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


def is_expired_token(exc: BaseException) -> bool:
    """Whether AWS said the session token expired, also inside an exception group (work that
    ran in a TaskGroup, as discovery's does)."""
    if isinstance(exc, BaseExceptionGroup):
        return any(is_expired_token(inner) for inner in exc.exceptions)
    return error_code(exc) in EXPIRED_TOKEN_CODES


def is_unavailable(exc: BaseException) -> bool:
    """Throttling, a 5xx or a network failure that outlasted botocore's retries."""
    if isinstance(exc, BotoConnectionError | HTTPClientError | OSError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in UNAVAILABLE_CODES or int(status or 0) >= 500
    return False
