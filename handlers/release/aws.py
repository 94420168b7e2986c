"""The one place that builds boto3 clients and turns botocore errors into the engine's errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .exceptions import AwsCallFailed, AwsTransientError

# The SDK retries throttling and 5xx itself (standard mode); what still fails after that is raised
# as AwsTransientError, which the state machine retries again with a longer backoff.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20,
                 user_agent_extra="ecs-bluegreen-release")

TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "SlowDown", "ProvisionedThroughputExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
    "InternalServerError", "InternalServiceError", "ServerException", "LimitExceededException",
})


@functools.cache
def client(service: str) -> Any:
    """A cached client per service; endpoint and credentials come from the environment as usual."""
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def conditional_write(operation: str, write: Callable[[], object]) -> bool:
    """Run a DynamoDB write with a condition: False when the condition failed, the engine's error otherwise."""
    try:
        write()
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise translate(exc, operation) from exc
    except BotoCoreError as exc:
        raise translate(exc, operation) from exc
    return True


def translate(exc: Exception, operation: str) -> Exception:
    """The engine's error for a failed AWS call: transient ones can be retried, the rest name the cause."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = exc.response.get("Error", {}).get("Message", "")
        if code in TRANSIENT_CODES or status >= 500:
            return AwsTransientError(f"{operation} failed with {code or status} after retries: {message}")
        hint = (" Check that the function's IAM role allows this call on this resource."
                if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"} else "")
        return AwsCallFailed(f"{operation} failed with {code}: {message}.{hint}")
    if isinstance(exc, BotoCoreError):
        return AwsTransientError(f"{operation} failed before AWS answered: {exc}")
    return exc
