"""The release request: validated once, at the start, into a complete configuration.

Every later state reads `$.config`, never the raw input, so defaults live in one place.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from . import defaults
from .exceptions import InvalidInput
from .hooks import HookConfig, parse_hooks

MAX_WAIT_SECONDS = 7 * 24 * 3600  # CodePipeline's action limit: waiting longer is never useful
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,1023}$")
_PATH = re.compile(r"^/[\x21-\x7e]{0,1023}$")


class Action(StrEnum):
    RELEASE = "release"
    ROLLBACK = "rollback"


class ProbeConfig(TypedDict):
    path: str
    expectedStatus: int
    timeoutSeconds: int
    baseUrl: str | None


class ProbeRoute(StrEnum):
    """How the deployed check-health function reaches the test listener (the discover function's PROBE_ROUTE).

    The load balancer is internet-facing and its test port admits only TestCidr and the NAT gateways' addresses.
    """

    NAT = "nat"  # from the VPC's private subnets, out through the NAT gateways whose addresses the port admits
    NONE = "none"  # outside the VPC (no NAT gateways to leave through): nothing it sends can reach the port


class HealthConfig(TypedDict):
    deadlineSeconds: int
    pollIntervalSeconds: int
    maxPollIntervalSeconds: int
    # Stop at once after this many consecutive checks that find green failing for a definite reason (0: wait
    # for the deadline), like ECS's deployment circuit breaker.
    failFastChecks: int
    probe: ProbeConfig | None


class ApprovalConfig(TypedDict):
    required: bool
    timeoutSeconds: int


class Strategy(StrEnum):
    ALL_AT_ONCE = "all-at-once"
    CANARY = "canary"
    LINEAR = "linear"


class Insufficient(StrEnum):
    """What a step whose time is over does when the judge still lacks traffic to decide."""

    PROCEED = "proceed"  # go on, and say the step was not judged
    HOLD = "hold"  # keep the step (and watching) up to holdSeconds longer, then roll back
    ROLLBACK = "rollback"


class JudgeConfig(TypedDict):
    enabled: bool
    periodSeconds: int  # the metrics' period (the ALB publishes per minute; the sandbox per second)
    significance: float  # a test's p-value below this, with the tolerance exceeded, fails green
    errorTolerancePercent: float  # points of 5XX rate green may have above blue's
    latencyPercentile: str  # TargetResponseTime's statistic, e.g. p90
    latencyTolerancePercent: float  # how much slower than blue green may be, relative ...
    latencyToleranceMs: float  # ... plus absolute
    minRequests: int  # per side, to compare 5XX rates
    minPeriods: int  # per side, periods with traffic, to compare latency
    onInsufficientTraffic: str
    holdSeconds: int


class TrafficConfig(TypedDict):
    strategy: str
    stepPercent: int  # canary: the canary's share; linear: the increment
    intervalSeconds: int  # how long each step lasts before the next
    bakeSeconds: int  # watching after all traffic is on green
    checkIntervalSeconds: int  # how often alarms and targets are checked while shifting and baking
    alarms: list[str]
    judge: JudgeConfig


class ReleaseConfig(TypedDict):
    action: str
    loadBalancer: str
    cluster: str
    productionPort: int
    testPort: int
    health: HealthConfig
    approval: ApprovalConfig
    traffic: TrafficConfig
    hooks: dict[str, HookConfig | None]  # afterTestTraffic, afterProductionShift, onRollback (None: no hook)
    codePipelineJobId: str | None
    description: str
    expectedImage: NotRequired[str | None]


def parse_request(raw: Any) -> ReleaseConfig:
    """Validate a release request and fill in defaults; raise InvalidInput naming every problem."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise InvalidInput("The release request must be a JSON object, e.g. "
                           '{"loadBalancer": "my-alb", "cluster": "my-cluster"}.')
    known = {"action", "loadBalancer", "cluster", "productionPort", "testPort", "health", "approval", "traffic",
             "codePipelineJobId", "description", "expectedImage", "hooks"}
    for key in sorted(set(raw) - known):
        problems.append(f"unknown field '{key}' (known fields: {', '.join(sorted(known))})")

    action_raw = raw.get("action", Action.RELEASE.value)
    if action_raw not in {a.value for a in Action}:
        problems.append(f"'action' must be 'release' or 'rollback', got {action_raw!r}")
        action = Action.RELEASE
    else:
        action = Action(action_raw)

    load_balancer = _name(raw, "loadBalancer", problems, "the load balancer's name or ARN")
    cluster = _name(raw, "cluster", problems, "the ECS cluster's name or ARN")
    production_port = _int(raw, "productionPort", 80, 1, 65535, problems)
    test_port = _int(raw, "testPort", 8080, 1, 65535, problems)
    if production_port == test_port:
        problems.append(f"'productionPort' and 'testPort' must differ (both are {production_port})")

    health_raw = _object(raw, "health", problems)
    health: HealthConfig = {
        "deadlineSeconds": _int(health_raw, "deadlineSeconds", defaults.HEALTH_DEADLINE_SECONDS, 0, MAX_WAIT_SECONDS,
                                problems, "health."),
        "pollIntervalSeconds": _int(health_raw, "pollIntervalSeconds", 10, 0, 3600, problems, "health."),
        "maxPollIntervalSeconds": _int(health_raw, "maxPollIntervalSeconds", 60, 0, 3600, problems, "health."),
        "failFastChecks": _int(health_raw, "failFastChecks", defaults.FAIL_FAST_CHECKS, 0, 100, problems, "health."),
        "probe": _probe(health_raw, problems),
    }
    approval_raw = _object(raw, "approval", problems)
    approval: ApprovalConfig = {
        "required": _bool(approval_raw, "required", action is Action.RELEASE, problems, "approval."),
        "timeoutSeconds": _int(approval_raw, "timeoutSeconds", 86400, 1, MAX_WAIT_SECONDS, problems,
                               "approval."),
    }
    traffic = _traffic(_object(raw, "traffic", problems), problems, rollback=action is Action.ROLLBACK)
    hooks = parse_hooks(raw.get("hooks"), problems, rollback=action is Action.ROLLBACK)
    job_id = raw.get("codePipelineJobId")
    if job_id is not None and not (isinstance(job_id, str) and re.fullmatch(r"[0-9a-fA-F-]{36}", job_id)):
        problems.append("'codePipelineJobId' must be a CodePipeline job id (a UUID) or absent")
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        problems.append("'description' must be a string of at most 500 characters")
        description = ""
    expected_image = raw.get("expectedImage")
    if expected_image is not None and not (isinstance(expected_image, str) and 0 < len(expected_image) <= 1024):
        problems.append("'expectedImage' must be an image reference or absent")

    if problems:
        raise InvalidInput("Invalid release request: " + "; ".join(problems) + ". Nothing was changed.")
    return {
        "action": action.value,
        "loadBalancer": load_balancer,
        "cluster": cluster,
        "productionPort": production_port,
        "testPort": test_port,
        "health": health,
        "approval": approval,
        "traffic": traffic,
        "hooks": hooks,
        "codePipelineJobId": job_id,
        "description": description,
        "expectedImage": expected_image,
    }


def _object(raw: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = raw.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"'{key}' must be an object")
        return {}
    return value


def _name(raw: dict[str, Any], key: str, problems: list[str], what: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not _NAME.match(value):
        problems.append(f"'{key}' is required: {what}")
        return ""
    return value


def _int(raw: dict[str, Any], key: str, default: int, low: int, high: int, problems: list[str],
         prefix: str = "") -> int:
    value = raw.get(key, default)
    # bool is an int subclass in Python; JSON true is never a port or a duration.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"'{prefix}{key}' must be a whole number from {low} to {high}, got {value!r}")
        return default
    return value


def _bool(raw: dict[str, Any], key: str, default: bool, problems: list[str], prefix: str = "") -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"'{prefix}{key}' must be true or false, got {value!r}")
        return default
    return value


def _probe(health_raw: dict[str, Any], problems: list[str]) -> ProbeConfig | None:
    raw = health_raw.get("probe")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("'health.probe' must be an object such as {\"path\": \"/health\"} or absent")
        return None
    path = raw.get("path", "/")
    if not isinstance(path, str) or not _PATH.match(path):
        problems.append(f"'health.probe.path' must start with '/' and contain no spaces, got {path!r}")
    base_url = raw.get("baseUrl")
    if base_url is not None and not (isinstance(base_url, str) and re.match(r"^https?://[^\s/]+$", base_url)):
        problems.append("'health.probe.baseUrl' must look like http://host:port (no path) or be absent")
    return {
        "path": path if isinstance(path, str) else "/",
        "expectedStatus": _int(raw, "expectedStatus", 200, 100, 599, problems, "health.probe."),
        "timeoutSeconds": _int(raw, "timeoutSeconds", 5, 1, 60, problems, "health.probe."),
        "baseUrl": base_url,
    }


def validate_probe_route(config: ReleaseConfig, route: ProbeRoute) -> None:
    """Refuse a probe of the test listener that cannot connect: it would only ever fail, after the whole deadline.

    A probe with its own `baseUrl` is the requester's to make reachable; if it cannot connect, it fails the check.
    """
    probe = config["health"]["probe"]
    if probe is None or probe["baseUrl"] is not None or route is ProbeRoute.NAT:
        return
    raise InvalidInput(
        "Invalid release request: 'health.probe' asks for an HTTP check of green through the test listener, "
        "which this system's check-health function cannot reach: the system was deployed with public task "
        "subnets (TaskSubnets=public), so there are no NAT gateways, the function runs outside the VPC, and the "
        "load balancer's test port admits only TestCidr. Deploy with private task subnets (TaskSubnets=private, "
        "the default: the function then joins the private subnets and the test port admits the NAT gateways), or "
        "leave out 'health.probe' (green's target health checks still run). Nothing was changed.")


_PERCENTILE = re.compile(r"^p(50|[5-9][0-9](\.[0-9])?)$")


def _number(raw: dict[str, Any], key: str, default: float, low: float, high: float, problems: list[str],
            prefix: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        problems.append(f"'{prefix}{key}' must be a number from {low:g} to {high:g}, got {value!r}")
        return default
    return float(value)


def _period(raw: dict[str, Any], prefix: str, problems: list[str]) -> int:
    """GetMetricData's periods: 1, 5, 10, 30 (high-resolution metrics, as the sandbox's) or a multiple of 60 (the
    ALB's metrics are standard resolution: 60 or more)."""
    period = _int(raw, "periodSeconds", defaults.JUDGE_PERIOD_SECONDS, 1, 86400, problems, prefix)
    if period not in (1, 5, 10, 30) and period % 60:
        problems.append(f"'{prefix}periodSeconds' must be 1, 5, 10, 30 or a multiple of 60 (CloudWatch's periods; "
                        f"the load balancer's metrics need 60 or a multiple), got {period}")
    return period


def _judge(raw: dict[str, Any], strategy: Strategy, rollback: bool, problems: list[str]) -> JudgeConfig:
    """The judge: on by default when traffic moves in steps (there is a blue to compare with while green
    takes a share), off for all-at-once and for rollbacks."""
    prefix = "traffic.judge."
    known = {"enabled", "periodSeconds", "significance", "errorTolerancePercent", "latencyPercentile",
             "latencyTolerancePercent", "latencyToleranceMs", "minRequests", "minPeriods", "onInsufficientTraffic",
             "holdSeconds"}
    for key in sorted(set(raw) - known):
        problems.append(f"unknown field '{prefix}{key}' (known fields: {', '.join(sorted(known))})")
    enabled = _bool(raw, "enabled", strategy is not Strategy.ALL_AT_ONCE and not rollback, problems, prefix)
    if rollback and enabled:
        problems.append("a rollback is not judged: leave out 'traffic.judge'")
    percentile = raw.get("latencyPercentile", "p90")
    if not isinstance(percentile, str) or not _PERCENTILE.match(percentile):
        problems.append(f"'{prefix}latencyPercentile' must be a percentile from p50 to p99.9, got {percentile!r}")
        percentile = "p90"
    insufficient = raw.get("onInsufficientTraffic", Insufficient.PROCEED.value)
    if insufficient not in {i.value for i in Insufficient}:
        problems.append(f"'{prefix}onInsufficientTraffic' must be one of "
                        f"{', '.join(i.value for i in Insufficient)}, got {insufficient!r}")
        insufficient = Insufficient.PROCEED.value
    return {
        "enabled": enabled,
        "periodSeconds": _period(raw, prefix, problems),
        "significance": _number(raw, "significance", 0.01, 0.0001, 0.2, problems, prefix),
        "errorTolerancePercent": _number(raw, "errorTolerancePercent", 1.0, 0, 100, problems, prefix),
        "latencyPercentile": percentile,
        "latencyTolerancePercent": _number(raw, "latencyTolerancePercent", 20.0, 0, 1000, problems, prefix),
        "latencyToleranceMs": _number(raw, "latencyToleranceMs", 25.0, 0, 60000, problems, prefix),
        "minRequests": _int(raw, "minRequests", 100, 1, 10**7, problems, prefix),
        "minPeriods": _int(raw, "minPeriods", 5, 3, 1440, problems, prefix),
        "onInsufficientTraffic": insufficient,
        "holdSeconds": _int(raw, "holdSeconds", 600, 0, 24 * 3600, problems, prefix),
    }


JUDGE_MODES = ("auto", "on", "off")  # a stack's policy: auto judges canary and linear releases


def judge_request(mode: str, period_seconds: int) -> dict[str, Any]:
    """The request's `traffic.judge` for a stack's judge policy (the Judge and JudgePeriodSeconds parameters)."""
    request: dict[str, Any] = {"periodSeconds": period_seconds}
    if mode != "auto":
        request["enabled"] = mode == "on"
    return request


_ALARM_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")


def parse_strategy(text: str) -> tuple[Strategy, int, int]:
    """'all-at-once', 'canary:P:N' or 'linear:S:N' (N minutes, decimals allowed) -> (strategy, %, seconds)."""
    parts = text.split(":")
    try:
        strategy = Strategy(parts[0])
    except ValueError:
        raise ValueError(f"unknown strategy {parts[0]!r}: use all-at-once, canary:P:N or linear:S:N") from None
    if strategy is Strategy.ALL_AT_ONCE:
        if len(parts) != 1:
            raise ValueError("all-at-once takes no arguments")
        return strategy, 100, 0
    if len(parts) != 3:
        raise ValueError(f"{strategy.value} needs a percentage and minutes, e.g. {strategy.value}:10:5")
    try:
        percent, minutes = int(parts[1]), float(parts[2])
    except ValueError:
        raise ValueError(f"in {text!r} the percentage must be a whole number and the minutes a number") from None
    if not 1 <= percent <= 99:
        raise ValueError(f"the percentage in {text!r} must be from 1 to 99")
    if not 0 <= minutes <= 24 * 60:
        raise ValueError(f"the minutes in {text!r} must be from 0 to 1440")
    return strategy, percent, round(minutes * 60)


def _traffic(raw: dict[str, Any], problems: list[str], rollback: bool) -> TrafficConfig:
    strategy, percent, interval = Strategy.ALL_AT_ONCE, 100, 0
    text = raw.get("strategy", Strategy.ALL_AT_ONCE.value)
    if not isinstance(text, str):
        problems.append("'traffic.strategy' must be a string such as 'canary:10:5'")
    else:
        try:
            strategy, percent, interval = parse_strategy(text)
        except ValueError as exc:
            problems.append(f"'traffic.strategy': {exc}")
    alarms = raw.get("alarms", [])
    if not isinstance(alarms, list) or not all(isinstance(a, str) and _ALARM_NAME.match(a) for a in alarms) \
            or len(alarms) > 20:
        problems.append("'traffic.alarms' must be a list of at most 20 CloudWatch alarm names")
        alarms = []
    bake = _int(raw, "bakeSeconds", 0 if rollback else defaults.BAKE_SECONDS, 0, 24 * 3600, problems, "traffic.")
    if rollback and (strategy is not Strategy.ALL_AT_ONCE or bake or alarms):
        # A rollback restores the known-good version at once; watching it could "roll back" to the bad one.
        problems.append("a rollback moves all traffic at once and is not baked or watched: leave out "
                        "'traffic.strategy', 'traffic.bakeSeconds' and 'traffic.alarms'")
    check = _int(raw, "checkIntervalSeconds", defaults.CHECK_INTERVAL_SECONDS, 1, 300, problems, "traffic.")
    judge = _judge(_object(raw, "judge", problems), strategy, rollback, problems)
    return {"strategy": strategy.value, "stepPercent": percent, "intervalSeconds": interval,
            "bakeSeconds": bake, "checkIntervalSeconds": check, "alarms": list(alarms), "judge": judge}
