"""Lambda: validate the release request and discover the live topology (read-only)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.config import ProbeRoute, parse_request, validate_probe_route
from release.discovery import discover
from release.exceptions import AlarmNotFound
from release.gateways.alarms import Alarms
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.gateways.functions import Functions
from release.hooks import verify_hooks
from release.observability import logger, tracer
from release.settings import setting


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = parse_request(event.get("request"))
    validate_probe_route(config, ProbeRoute(setting("PROBE_ROUTE")))
    topology = discover(config, LoadBalancing(), Containers())
    alarms = config["traffic"]["alarms"]
    missing = sorted(set(alarms) - {a["AlarmName"] for a in Alarms().describe(alarms)})
    if missing:  # a typo would silently disable the guard: refuse before anything changes
        raise AlarmNotFound(f"CloudWatch alarm(s) {', '.join(missing)} do not exist in this account and region. "
                            "Fix 'traffic.alarms' in the request. Nothing was changed.")
    if any(config["hooks"].values()):
        verify_hooks(config["hooks"], setting("HOOK_FUNCTION_PREFIX"), Functions().arn)
    logger.info("Topology discovered", extra={
        "loadBalancer": topology["loadBalancerName"],
        "blue": topology["blue"]["targetGroupName"], "green": topology["green"]["targetGroupName"],
        "greenImages": topology["green"]["service"]["images"], "tagProblems": topology["tagProblems"]})
    return {"config": config, "topology": topology}
