"""Pure health decisions: is a side fit to take production traffic, and how long to wait if not."""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import TypedDict

from . import observed
from .config import HealthConfig


class Check(StrEnum):
    SERVICE_STEADY = "service-steady"
    TARGETS_HEALTHY = "targets-healthy"
    HTTP_PROBE = "http-probe"


class CheckResult(TypedDict):
    check: str
    ok: bool
    detail: str


class HealthReport(TypedDict):
    healthy: bool
    checks: list[CheckResult]
    # Why green is failing for a reason that waiting will not fix (None: healthy, or it may still become so),
    # and whether that is conclusive at once (ECS's circuit breaker would give up) or must be seen again.
    definite: str | None
    conclusive: bool


# Target health reasons that say the target answered wrongly or not at all; not initial, draining or unused.
DEFINITE_TARGET_REASONS = frozenset({"Target.ResponseCodeMismatch", "Target.Timeout", "Target.FailedHealthChecks"})


def failure_threshold(desired: int) -> int:
    """Failed tasks at which ECS's deployment circuit breaker gives a deployment up: half the desired count,
    at least 3 and at most 200."""
    return min(200, max(3, math.ceil(desired / 2)))


def evaluate_definite(service: observed.Service, targets: Sequence[observed.TargetHealth],
                      released_task_definition: str) -> tuple[str, bool] | None:
    """A failure that waiting will not heal, and whether it is conclusive at once.

    Conclusive, as ECS's deployment circuit breaker judges: a deployment of the service failed, ECS rolled the
    service back from the released task definition, or as many of the current deployment's tasks stopped as the
    breaker's threshold (ECS stops a task whose container exits or whose target fails the load balancer's checks,
    and starts another; the old deployment's tasks keep serving meanwhile). Definite but to be seen again (in
    consecutive checks, which back off as usual): every registered target fails its health checks.
    """
    failed = [d for d in service.deployments if d.rollout_state == "FAILED"]
    if failed:
        return (f"{service.name}: ECS gave the deployment up (rollout FAILED, {failed[0].failed_tasks} failed "
                "tasks)"), True
    if service.task_definition != released_task_definition:
        return (f"{service.name} runs {service.task_definition.rsplit('/', 1)[-1]}, not the released "
                f"{released_task_definition.rsplit('/', 1)[-1]}: ECS rolled it back"), True
    primary = next((d for d in service.deployments if d.status == "PRIMARY"), None)
    if primary is not None and primary.rollout_state != "COMPLETED" \
            and primary.failed_tasks >= failure_threshold(primary.desired):
        return (f"{service.name}: {primary.failed_tasks} task(s) of the new deployment stopped "
                f"({primary.running} of {primary.desired} running)"), True
    if targets and all(t.state == "unhealthy" and t.reason in DEFINITE_TARGET_REASONS for t in targets):
        reasons = sorted({f"{t.reason}" + (f": {t.description}" if t.description else "") for t in targets})
        return f"all {len(targets)} target(s) unhealthy ({'; '.join(reasons)})", False
    return None


def evaluate_service(service: observed.Service) -> CheckResult:
    """Steady state: one PRIMARY deployment, completed, running == desired > 0."""
    primary = [d for d in service.deployments if d.status == "PRIMARY"]
    others = [d for d in service.deployments if d.status != "PRIMARY"]
    problems = []
    if service.desired <= 0:
        problems.append(f"desired count is {service.desired}")
    if service.running != service.desired:
        problems.append(f"{service.running} of {service.desired} tasks running")
    if len(primary) != 1:
        problems.append(f"{len(primary)} primary deployments")
    elif primary[0].rollout_state not in (None, "COMPLETED"):
        problems.append(f"deployment rollout is {primary[0].rollout_state}")
    elif primary[0].task_definition != service.task_definition:
        problems.append("primary deployment is not on the service's task definition")
    if others:
        problems.append(f"{len(others)} older deployment(s) still draining")
    ok = not problems
    detail = (f"{service.name}: {service.running}/{service.desired} running, steady" if ok
              else f"{service.name}: " + "; ".join(problems))
    return {"check": Check.SERVICE_STEADY.value, "ok": ok, "detail": detail}


def evaluate_targets(target_group_name: str, targets: Sequence[observed.TargetHealth]) -> CheckResult:
    """At least one registered target, and every registered target healthy."""
    if not targets:
        return {"check": Check.TARGETS_HEALTHY.value, "ok": False,
                "detail": f"{target_group_name}: no targets registered"}
    bad = [t for t in targets if t.state != "healthy"]
    if bad:
        listed = ", ".join(
            f"{t.target_id}:{t.port} {t.state}" + (f" ({t.reason})" if t.reason else "") for t in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        return {"check": Check.TARGETS_HEALTHY.value, "ok": False,
                "detail": f"{target_group_name}: {len(bad)} of {len(targets)} targets not healthy: {listed}{more}"}
    return {"check": Check.TARGETS_HEALTHY.value, "ok": True,
            "detail": f"{target_group_name}: {len(targets)} of {len(targets)} targets healthy"}


def evaluate_probe(result: observed.ProbeResult, expected_status: int) -> CheckResult:
    ok = result.status == expected_status
    got = f"HTTP {result.status}" if result.status is not None else f"no response ({result.error})"
    return {"check": Check.HTTP_PROBE.value, "ok": ok,
            "detail": f"GET {result.url}: {got}, expected {expected_status}"}


def compute_report(checks: Sequence[CheckResult], definite: tuple[str, bool] | None = None) -> HealthReport:
    healthy = all(c["ok"] for c in checks) and bool(checks)
    failing = None if healthy else definite
    return {"healthy": healthy, "checks": list(checks), "definite": failing[0] if failing else None,
            "conclusive": bool(failing and failing[1])}


def compute_wait_seconds(attempt: int, elapsed_seconds: float, policy: HealthConfig) -> int | None:
    """Seconds to wait before the next check (exponential backoff), or None when the deadline has passed.

    The last wait is shortened so that one final check happens at the deadline.
    """
    remaining = policy["deadlineSeconds"] - elapsed_seconds
    if remaining <= 0:
        return None
    backoff = policy["pollIntervalSeconds"] * (2 ** min(attempt, 16))
    return int(min(backoff, policy["maxPollIntervalSeconds"], math.ceil(remaining)))


def describe_stopped(tasks: Sequence[observed.StoppedTask]) -> str:
    """The stopped tasks grouped by reason, in the order first seen: "REASON (tasks a, b)"."""
    if not tasks:
        return "no stopped task listed"
    grouped: dict[str, list[str]] = {}
    for task in tasks:
        reason = task.stopped_reason + (f" ({', '.join(task.container_reasons)})" if task.container_reasons else "")
        grouped.setdefault(reason, []).append(task.task_id)
    return "; ".join(f"{reason}: task{'s' if len(ids) > 1 else ''} {', '.join(ids)}"
                     for reason, ids in grouped.items())


def describe_failure(report: HealthReport) -> str:
    failing = [c["detail"] for c in report["checks"] if not c["ok"]]
    return "; ".join(failing) or "no health checks ran"
