"""Lambda (.waitForTaskToken): store the task token server-side and mail each approver a link of their own."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.approval import (
    ApprovalRecord,
    ApprovalStatus,
    approval_key,
    compose_request,
    compute_links,
    compute_summary,
)
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
    # The record's key is the hash of an id that is never sent: only the approvers' links lead to it.
    record = ApprovalRecord(key=approval_key(secrets.token_urlsafe(32)), task_token=event["taskToken"],
                            execution_arn=event["execution"], summary_json=json.dumps(summary, separators=(",", ":")),
                            status=ApprovalStatus.PENDING, created_at=now, expires_at=expires_at)
    store = ApprovalStore(setting("APPROVALS_TABLE"))
    store.create(record)
    approvers = [a.strip() for a in setting("APPROVERS").split(",") if a.strip()]
    topic, base = Topic(setting("APPROVAL_TOPIC_ARN")), setting("APPROVAL_URL").rstrip("/")
    for approval_id, link in compute_links(approvers, record.key, record.execution_arn, now, expires_at,
                                           lambda: secrets.token_urlsafe(32)):
        store.create_link(link)
        subject, body = compose_request(summary, f"{base}/approvals/{approval_id}")
        # Each approver's subscription admits only messages carrying their address: their link reaches them alone.
        message_id = topic.publish(subject, body, {"approver": link.approver} if link.approver else None)
        logger.info("Approval requested", extra={"approvalKeyPrefix": record.key[:12], "approver": link.approver,
                                                 "expiresAt": expires_at, "messageId": message_id})
    # The key prefix lets an operator find the record; neither the ids nor the token is logged.
    return {"approvalKeyPrefix": record.key[:12], "expiresAt": expires_at, "approvers": approvers}
