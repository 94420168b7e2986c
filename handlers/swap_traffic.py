"""Lambda: the checked compare-and-set swap of the production and test listeners."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.observability import logger, tracer
from release.traffic import reconcile_swap


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = reconcile_swap(event["topology"], LoadBalancing(), Containers())
    logger.info("Traffic swapped", extra={"decision": result["decision"],
                                          "production": result["topology"]["blue"]["targetGroupName"]})
    return dict(result)
