"""AWS CodePipeline: the job result of the action that started the release, when there is one."""

from __future__ import annotations

from typing import Any

from .. import aws

MESSAGE_LIMIT = 5000  # FailureDetails.message / ExecutionDetails.summary maximum length (2048 for summary)

# The job was already reported or is gone: a retried report is harmless.
_ALREADY_REPORTED = frozenset({"InvalidJobStateException", "JobNotFoundException"})


class Pipeline:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("codepipeline")

    def succeed(self, job_id: str, summary: str) -> bool:
        """Report success; False when the job was already reported or is gone."""
        return aws.accepted("codepipeline:PutJobSuccessResult", self._client.put_job_success_result,
                            refusals=_ALREADY_REPORTED, jobId=job_id,
                            executionDetails={"summary": summary[:2048], "percentComplete": 100})

    def fail(self, job_id: str, message: str) -> bool:
        return aws.accepted("codepipeline:PutJobFailureResult", self._client.put_job_failure_result,
                            refusals=_ALREADY_REPORTED, jobId=job_id,
                            failureDetails={"type": "JobFailed", "message": message[:MESSAGE_LIMIT]})
