"""AWS Step Functions: delivering an approval decision to the waiting execution."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import aws
from ..exceptions import ApprovalNoLongerPending

_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


class Workflow:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("stepfunctions")

    def send_success(self, task_token: str, output: dict[str, Any]) -> None:
        self._call("states:SendTaskSuccess", lambda: self._client.send_task_success(
            taskToken=task_token, output=json.dumps(output)))

    def send_failure(self, task_token: str, error: str, cause: str) -> None:
        self._call("states:SendTaskFailure", lambda: self._client.send_task_failure(
            taskToken=task_token, error=error, cause=cause[:32768]))

    def execution_status(self, execution_arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or GONE when Step Functions no longer knows it."""
        try:
            return str(self._client.describe_execution(executionArn=execution_arn)["status"])
        except ClientError as exc:
            if aws.error_code(exc) in {"ExecutionDoesNotExist", "InvalidArn"}:
                return "GONE"
            raise aws.translate(exc, "states:DescribeExecution") from exc
        except BotoCoreError as exc:
            raise aws.translate(exc, "states:DescribeExecution") from exc

    @staticmethod
    def _call(operation: str, call: Any) -> None:
        try:
            call()
        except ClientError as exc:
            if aws.error_code(exc) in _GONE:
                raise ApprovalNoLongerPending(
                    "The release is no longer waiting for this decision (it timed out, finished or was stopped).") \
                    from exc
            raise aws.translate(exc, operation) from exc
        except BotoCoreError as exc:
            raise aws.translate(exc, operation) from exc
