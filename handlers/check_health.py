"""Lambda: one health check of green; says how long to wait before the next, or fails at the deadline."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.checks import check_side
from release.exceptions import GreenUnhealthy
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.health import compute_wait_seconds, describe_failure
from release.observability import logger, tracer


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, topology = event["config"], event["topology"]
    poll = event.get("poll") or {}
    now = time.time()
    started_at = float(poll.get("startedAt") or now)
    attempt = int(poll.get("attempt", 0))
    report = check_side(topology["green"], topology, config["health"]["probe"], LoadBalancing(), Containers())
    logger.info("Health checked", extra={"attempt": attempt + 1, "healthy": report["healthy"],
                                         "checks": report["checks"]})
    result = {"healthy": report["healthy"], "attempt": attempt + 1, "startedAt": started_at,
              "waitSeconds": 0, "report": report}
    if report["healthy"]:
        return result
    elapsed = now - started_at
    wait = compute_wait_seconds(attempt, elapsed, config["health"])
    if wait is None:
        raise GreenUnhealthy(
            f"{topology['green']['service']['serviceName']} did not become healthy within "
            f"{config['health']['deadlineSeconds']} s ({attempt + 1} checks): {describe_failure(report)}. "
            "Fix green and release again.")
    return {**result, "waitSeconds": wait}
