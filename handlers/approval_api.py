"""Lambda behind API Gateway (HTTP API): the approval page.

GET shows the release and a form and never decides: mail scanners open every link.
Only the form's POST decides, once (see `release.deciding`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from release import pages
from release.approval import (
    InvalidDecision,
    LinkState,
    approval_key,
    compute_link_state,
    is_well_formed,
    parse_decision,
)
from release.deciding import Delivery, deliver_decision
from release.exceptions import AwsTransientError, DecisionNotDelivered, ReleaseError
from release.gateways.approvals import ApprovalStore
from release.gateways.workflow import Workflow
from release.observability import logger, tracer
from release.settings import setting

app = APIGatewayHttpResolver()
FORM_LIMIT = 8192


def _html(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body,
                    headers=dict(pages.SECURITY_HEADERS))


def _store() -> ApprovalStore:
    return ApprovalStore(setting("APPROVALS_TABLE"))


def _closed_page(state: LinkState, record: Any) -> Response[str]:
    if state is LinkState.DECIDED:
        return _html(409, pages.already_decided(record))
    if state is LinkState.NO_LONGER_WAITING:
        return _html(410, pages.no_longer_pending())
    if state is LinkState.EXPIRED:
        return _html(410, pages.expired())
    return _html(404, pages.unknown())


@app.get("/approvals/<approval_id>")
@tracer.capture_method
def show(approval_id: str) -> Response[str]:
    if not is_well_formed(approval_id):
        return _html(404, pages.unknown())
    record, _ = _store().open(approval_key(approval_id))
    state = compute_link_state(record, int(time.time()))
    if state is not LinkState.PENDING or record is None:
        return _closed_page(state, record)
    # A release stopped from outside (StopExecution, an interrupted sandbox) never answers its token: say so
    # now rather than on the decision. Only read: a GET changes nothing (mail scanners follow links).
    try:
        if Workflow().execution_status(record.execution_arn) != "RUNNING":
            return _html(410, pages.no_longer_pending())
    except ReleaseError as exc:  # in doubt, the page: the decision is checked again when it is made
        logger.warning("Could not tell whether the release still runs", extra={"error": str(exc)})
    return _html(200, pages.confirmation(record.summary))


@app.post("/approvals/<approval_id>")
@tracer.capture_method
def decide(approval_id: str) -> Response[str]:
    if not is_well_formed(approval_id):
        return _html(404, pages.unknown())
    store = _store()
    now = int(time.time())
    record, approver = store.open(approval_key(approval_id))
    if record is None:
        return _html(404, pages.unknown())
    key = record.key  # the release's record: one decision, from whichever approver's link
    form = parse_qs((app.current_event.decoded_body or "")[:FORM_LIMIT], keep_blank_values=True)
    try:
        decision = replace(parse_decision(form, now, app.current_event.request_context.http.source_ip),
                           approver=approver)
    except InvalidDecision as exc:  # the form again, if the link still waits for a decision
        record = store.get(key)
        state = compute_link_state(record, now)
        if state is not LinkState.PENDING or record is None:
            return _closed_page(state, record)
        return _html(400, pages.confirmation(record.summary, str(exc), _first(form, "name"), _first(form, "reason")))
    try:
        delivery, record = deliver_decision(store, Workflow(), key, decision)
    except DecisionNotDelivered as exc:  # the claim was released: the link works again until it expires
        record = store.get(key)
        logger.error("Approval decision not delivered", extra={"error": str(exc), "code": exc.code,
                                                                "execution": record and record.execution_arn,
                                                                "approvalKeyPrefix": key[:12]})
        return _html(502, pages.not_delivered(exc.code, record.expires_at if record else now))
    logger.info("Approval decision", extra={"delivery": delivery.value, "approved": decision.approved,
                                            "by": decision.by, "approver": decision.approver,
                                            "execution": record and record.execution_arn,
                                            "approvalKeyPrefix": key[:12]})
    if delivery is Delivery.DELIVERED and record is not None:
        return _html(200, pages.decided(decision, record.summary))
    if delivery is Delivery.NO_LONGER_PENDING:
        return _html(410, pages.no_longer_pending())
    if delivery is Delivery.TRY_AGAIN:
        return _html(503, pages.try_again())
    return _closed_page(compute_link_state(record, now), record)


@app.exception_handler(AwsTransientError)  # type: ignore[untyped-decorator]
def aws_did_not_answer(exc: AwsTransientError) -> Response[str]:
    """Throttled or failing after the SDK's retries: nothing was decided, the link still works."""
    logger.warning("AWS did not answer", extra={"error": str(exc)})
    return _html(503, pages.try_again())


def _first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0][:1000]


@logger.inject_lambda_context(log_event=False)  # the path holds the approval id: never log the event
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
