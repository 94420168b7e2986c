"""Lambda (.waitForTaskToken): store the task token server-side and send the approval request."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.approval import ApprovalRecord, ApprovalStatus, approval_key, compose_request, compute_summary
from release.gateways.approvals import ApprovalStore
from release.gateways.notifications import Topic
from release.observability import logger, tracer
from release.settings import setting


@logger.inject_lambda_context(log_event=False)  # the event holds the task token: never log it
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, topology = event["config"], event["topology"]
    now = int(time.time())
    expires_at = now + int(config["approval"]["timeoutSeconds"])
    health = (event.get("health") or {}).get("report")
    summary = compute_summary(config, topology, health, event["execution"], expires_at)
    approval_id = secrets.token_urlsafe(32)
    record = ApprovalRecord(key=approval_key(approval_id), task_token=event["taskToken"],
                            execution_arn=event["execution"], summary_json=json.dumps(summary, separators=(",", ":")),
                            status=ApprovalStatus.PENDING, created_at=now, expires_at=expires_at)
    ApprovalStore(setting("APPROVALS_TABLE")).create(record)
    link = f"{setting('APPROVAL_URL').rstrip('/')}/approvals/{approval_id}"
    subject, body = compose_request(summary, link)
    message_id = Topic(setting("APPROVAL_TOPIC_ARN")).publish(subject, body)
    # The key prefix lets an operator find the record; neither the id nor the token is logged.
    logger.info("Approval requested", extra={"approvalKeyPrefix": record.key[:12], "expiresAt": expires_at,
                                             "messageId": message_id})
    return {"approvalKeyPrefix": record.key[:12], "expiresAt": expires_at}
