"""AWS CodePipeline: the job result of the action that started the release, when there is one."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import aws

MESSAGE_LIMIT = 5000  # FailureDetails.message / ExecutionDetails.summary maximum length (2048 for summary)


class Pipeline:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("codepipeline")

    def succeed(self, job_id: str, summary: str) -> bool:
        """Report success; False when the job was already reported or is gone (a retry is harmless)."""
        return self._call("codepipeline:PutJobSuccessResult", lambda: self._client.put_job_success_result(
            jobId=job_id, executionDetails={"summary": summary[:2048], "percentComplete": 100}))

    def fail(self, job_id: str, message: str) -> bool:
        return self._call("codepipeline:PutJobFailureResult", lambda: self._client.put_job_failure_result(
            jobId=job_id, failureDetails={"type": "JobFailed", "message": message[:MESSAGE_LIMIT]}))

    @staticmethod
    def _call(operation: str, call: Any) -> bool:
        try:
            call()
        except ClientError as exc:
            if aws.error_code(exc) in {"InvalidJobStateException", "JobNotFoundException"}:
                return False
            raise aws.translate(exc, operation) from exc
        except BotoCoreError as exc:
            raise aws.translate(exc, operation) from exc
        return True
