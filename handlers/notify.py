"""Lambda: report the outcome to the operators (SNS) and, when it started the release, to CodePipeline."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.exceptions import ReleaseError
from release.gateways.elbv2 import LoadBalancing
from release.gateways.locks import LockStore
from release.gateways.notifications import Topic
from release.gateways.pipeline import Pipeline
from release.observability import logger, tracer
from release.report import Status, compose_notification, compute_outcome
from release.settings import setting
from release.traffic import production_side

_JOB_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = event["state"]
    lock = state.get("lock") or {}
    if lock.get("holder") == event.get("execution"):  # first: reporting must never keep the lock held
        released = LockStore(setting("LOCKS_TABLE")).release(lock["key"], lock["holder"])
        logger.info("Release lock released", extra={"released": released})
    production_now = None
    if state.get("topology"):
        try:  # best effort: the report says where production points, read now, not remembered
            production_now = production_side(state["topology"], LoadBalancing())
        except ReleaseError as exc:
            logger.warning("Could not read the production listener for the report", extra={"error": str(exc)})
    outcome = compute_outcome(state, state.get("failedStep"), production_now)
    job_id = _job_id(state)
    if job_id:  # first: a pipeline left unanswered waits for its action timeout
        pipeline = Pipeline()
        reported = (pipeline.succeed(job_id, outcome["message"]) if outcome["status"] == Status.SUCCEEDED
                    else pipeline.fail(job_id, outcome["message"]))
        outcome["report"]["codePipelineReported"] = reported
    Topic(setting("NOTIFICATION_TOPIC_ARN")).publish(outcome["subject"], compose_notification(outcome))
    logger.info("Outcome reported", extra={"status": outcome["status"], "error": outcome["error"],
                                           "failedStep": outcome["failedStep"], "codePipelineJob": bool(job_id)})
    return dict(outcome)


def _job_id(state: dict[str, Any]) -> str | None:
    config = state.get("config") or {}
    # A request that failed validation has no config; its job id is used only if well formed.
    job_id = config.get("codePipelineJobId") or state.get("codePipelineJobId")
    return job_id if isinstance(job_id, str) and _JOB_ID.match(job_id) else None
