"""Lambda: the next step of a canary or linear shift (weighted forward on the production listener)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.gateways.elbv2 import LoadBalancing
from release.observability import logger, tracer
from release.traffic import reconcile_shift


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    step = reconcile_shift(event["topology"], event["config"]["traffic"], int(event["shift"]["percent"]),
                           LoadBalancing())
    return dict(step)
