"""AWS Step Functions: delivering an approval decision to the waiting execution."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .. import aws
from ..exceptions import ApprovalNoLongerPending, AwsCallFailed, DecisionNotDelivered

# The task behind the token was closed (timed out, answered, or its execution ended). InvalidToken is not
# among them: Step Functions also answers it for a token it cannot read, while the execution still waits.
_GONE = ("TaskTimedOut", "TaskDoesNotExist")
_UNKNOWN_EXECUTION = ("ExecutionDoesNotExist", "InvalidArn")


class Workflow:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("stepfunctions")

    def send_success(self, task_token: str, output: dict[str, Any]) -> None:
        _deliver("states:SendTaskSuccess", self._client.send_task_success,
                 taskToken=task_token, output=json.dumps(output))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        _deliver("states:SendTaskFailure", self._client.send_task_failure,
                 taskToken=task_token, error=error, cause=cause[:32768])

    def execution_status(self, execution_arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or GONE when Step Functions no longer knows it."""
        described = aws.call("states:DescribeExecution", self._client.describe_execution,
                             on=dict.fromkeys(_UNKNOWN_EXECUTION, _gone), executionArn=execution_arn)
        return str(described["status"])


def _deliver(operation: str, send: Callable[..., Any], **params: Any) -> None:
    """One decision sent: ApprovalNoLongerPending, AwsTransientError (may be retried) or DecisionNotDelivered."""
    try:
        aws.call(operation, send, on=_no_longer_waiting(), **params)
    except AwsCallFailed as exc:
        cause = exc.__cause__
        code = aws.error_code(cause) if isinstance(cause, ClientError) else type(cause).__name__
        raise DecisionNotDelivered(str(exc), code) from exc


def _no_longer_waiting() -> dict[str, Exception]:
    gone = ApprovalNoLongerPending(
        "The release is no longer waiting for this decision (it timed out, finished or was stopped).")
    return dict.fromkeys(_GONE, gone)


def _gone(_: ClientError) -> dict[str, str]:
    return {"status": "GONE"}
