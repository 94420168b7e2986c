"""An AWS error as `deploy.py` shows it: one line that says what failed, why, and what to do."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from botocore.parsers import ResponseParserError

_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "Forbidden"}
_CREDENTIALS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                "SignatureDoesNotMatch", "RequestExpired"}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
              "SlowDown", "ProvisionedThroughputExceededException"}


def explain(exc: ClientError | BotoCoreError | ResponseParserError) -> str:
    """An AWS error as one line: the operation actually called, the likely cause, what to do."""
    if isinstance(exc, NoCredentialsError):
        return ("No AWS credentials found. Run `aws configure` or `aws sso login`, pass --profile, or set "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.")
    if isinstance(exc, EndpointConnectionError):
        return f"Could not reach AWS ({exc}). Check the network and --region; nothing more was done."
    if isinstance(exc, ResponseParserError):
        return ("AWS answered with something that is not an AWS response, such as an internal error page. "
                "Try again; if it persists, the service (or the endpoint you point at) is failing.")
    if isinstance(exc, BotoCoreError):
        return f"The AWS SDK failed before AWS answered ({type(exc).__name__}: {exc}). Try again."
    operation = exc.operation_name
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", "")).rstrip(".")
    service = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _DENIED:
        advice = (f"your credentials may not call {operation} on this resource: add the permission to your IAM "
                  "policy (or use a role that has it), then run the command again")
    elif code in _CREDENTIALS:
        advice = "your credentials are expired or invalid: refresh them (e.g. `aws sso login`) and try again"
    elif code in _THROTTLED or service >= 500:
        advice = "AWS is throttling or failing for now: wait a minute and run the command again"
    else:
        advice = "fix the cause AWS gives above, then run the command again"
    return f"{operation} failed with {code or service}: {message}. Likely cause and what to do: {advice}."
