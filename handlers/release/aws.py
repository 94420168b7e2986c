"""The one place that builds boto3 clients and turns botocore errors into the engine's errors."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

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


# What each service answers when IAM refuses a call (SNS says AuthorizationError, EC2 UnauthorizedOperation).
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError",
                                 "UnauthorizedOperation", "KMSAccessDenied", "KMSAccessDeniedException"})
_REFUSED = re.compile(r"not authorized to perform: (?P<action>\S+) on resource: (?P<resource>\S+)")
_ROLE = re.compile(r"assumed-role/(?P<role>[^/\s]+)/")


@functools.cache
def client(service: str) -> Any:
    """A cached client per service; endpoint and credentials come from the environment as usual."""
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


T = TypeVar("T")

# What one error code of one call means to the engine: an exception to raise in its place, or a function
# of the error whose result stands in for the response (it may raise too).
Outcome = Exception | Callable[[ClientError], T]


def call(operation: str, method: Callable[..., T], /, *, on: Mapping[str, Outcome[T]] | None = None,
         **params: Any) -> T:
    """`method(**params)`: one AWS operation, named "service:Operation" ("elbv2:DescribeRules"), errors translated.

    An error code in `on` gets the outcome given there; any other error becomes the engine's error naming
    `operation`. Its IAM hint must name the call that was refused, hence one operation per `call`.
    """
    try:
        return method(**params)
    except ClientError as exc:
        outcome = (on or {}).get(error_code(exc))
        if outcome is None:
            raise translate(exc, operation) from exc
        if isinstance(outcome, Exception):
            raise outcome from exc
        return outcome(exc)
    except BotoCoreError as exc:
        raise translate(exc, operation) from exc


def pages(operation: str, paginator: Any, /, *, on: Mapping[str, Outcome[list[Any]]] | None = None,
          **params: Any) -> list[Any]:
    """Every page of a paginated operation, all read inside `call`: a page iterator calls AWS as it is consumed."""
    def read(**kwargs: Any) -> list[Any]:
        return list(paginator.paginate(**kwargs))

    return call(operation, read, on=on, **params)


def accepted(operation: str, method: Callable[..., Any], /, *, refusals: Collection[str], **params: Any) -> bool:
    """True when the call succeeded, False when AWS refused it with one of `refusals`; other errors raise."""
    def run(**kwargs: Any) -> bool:
        method(**kwargs)
        return True

    return call(operation, run, on=dict.fromkeys(refusals, _refused), **params)


def conditional_write(operation: str, write: Callable[..., Any], /, **params: Any) -> bool:
    """Run a DynamoDB write with a condition: False when the condition failed, the engine's error otherwise."""
    return accepted(operation, write, refusals={"ConditionalCheckFailedException"}, **params)


def _refused(_: ClientError) -> bool:
    return False


def access_hint(message: str) -> str:
    """The fix for a refused call, from AWS's message: which action to allow, on what, in which role."""
    refused, role = _REFUSED.search(message), _ROLE.search(message)
    if refused is None:
        return " Check that the function's IAM role allows this call on this resource."
    where = f"the IAM role {role.group('role')}" if role else "this function's IAM role"
    return (f" To fix: allow {refused.group('action')} on {refused.group('resource')} in {where}"
            " (its policy in cfn/engine.yaml), update the stack, then release again.")


def translate(exc: Exception, operation: str) -> Exception:
    """The engine's error for a failed AWS call: transient ones can be retried, the rest name the cause."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = exc.response.get("Error", {}).get("Message", "")
        if code in TRANSIENT_CODES or status >= 500:
            return AwsTransientError(f"{operation} failed with {code or status} after retries: {message}")
        hint = access_hint(message) if code in ACCESS_DENIED_CODES else ""
        return AwsCallFailed(f"{operation} failed with {code}: {message}.{hint}")
    if isinstance(exc, BotoCoreError):
        return AwsTransientError(f"{operation} failed before AWS answered: {exc}")
    return exc
