"""Lambda: traffic back on blue at once (100%), after an alarm, unhealthy targets, an abort or a failed step."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.gateways.elbv2 import LoadBalancing
from release.observability import logger, tracer
from release.report import error_message
from release.traffic import reconcile_rollback


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = event["state"]
    failure = state.get("shiftError") or state.get("error")  # a failed step, or a failed final swap
    reason = (f"{failure.get('Error')}: {error_message(failure)}" if failure
              else (state.get("watch") or {}).get("reason") or "rollback requested")
    result = reconcile_rollback(state["topology"], LoadBalancing())
    logger.warning("Rolled back", extra={"reason": reason})
    return {**result, "reason": reason}
