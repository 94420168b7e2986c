"""Lambda: one health check of green; says how long to wait before the next, or fails.

It fails at the deadline, or at once when green fails for a reason waiting will not fix: as ECS's circuit breaker
judges (a failed or rolled-back deployment, as many stopped tasks as its threshold), or every target failing its
health checks in consecutive checks. It names the stopped tasks' reasons.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.checks import check_side
from release.exceptions import GreenUnhealthy
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.health import compute_wait_seconds, describe_failure, describe_stopped
from release.observability import logger, tracer


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, topology = event["config"], event["topology"]
    policy, green = config["health"], topology["green"]["service"]
    poll = event.get("poll") or {}
    now = time.time()
    started_at = float(poll.get("startedAt") or now)
    attempt = int(poll.get("attempt", 0))
    containers = Containers()
    report = check_side(topology["green"], topology, policy["probe"], LoadBalancing(), containers)
    failing = int(poll.get("definiteFailures", 0)) + 1 if report["definite"] else 0
    logger.info("Health checked", extra={"attempt": attempt + 1, "healthy": report["healthy"],
                                         "checks": report["checks"], "definiteFailures": failing})
    result = {"healthy": report["healthy"], "attempt": attempt + 1, "startedAt": started_at,
              "waitSeconds": 0, "report": report, "definiteFailures": failing}
    if report["healthy"]:
        return result
    if policy["failFastChecks"] and (failing >= policy["failFastChecks"] or report["conclusive"]):
        stopped = containers.stopped_tasks(green["clusterArn"], green["serviceName"], green["taskDefinition"])
        raise GreenUnhealthy(
            f"{green['serviceName']} is failing and waiting will not fix it: {report['definite']} "
            f"({failing} consecutive failing check(s), {now - started_at:.0f} s after the first). "
            f"Stopped tasks: {describe_stopped(stopped)}. "
            f"Checks: {describe_failure(report)}. Fix green and release again.")
    wait = compute_wait_seconds(attempt, now - started_at, policy)
    if wait is None:
        raise GreenUnhealthy(
            f"{green['serviceName']} did not become healthy within {policy['deadlineSeconds']} s "
            f"({attempt + 1} checks): {describe_failure(report)}. Fix green and release again.")
    return {**result, "waitSeconds": wait}
