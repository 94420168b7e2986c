"""The judge and the fast health gate: the real ASL with the real handlers, on metrics put as the ALB puts them."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox import moto_ext
from sandbox.lb_metrics import dimension
from tests.flow.test_progressive import production_weights
from tests.support.world import World

pytestmark = pytest.mark.flow

JUDGE = {"periodSeconds": 1, "minRequests": 30, "minPeriods": 3}


@contextmanager
def traffic(world: World, green_errors: float = 0.0, green_latency: float = 0.010,
            rate: int = 100) -> Iterator[None]:
    """Requests split as the production listener says, put each second as the ALB's per-target-group metrics."""
    stop = threading.Event()
    rng = random.Random(11)  # noqa: S311 - simulated traffic, seeded to be repeatable
    cloudwatch = world.client("cloudwatch")

    def run() -> None:
        while not stop.wait(1.0 - time.time() % 1.0):
            weights = production_weights(world)
            total = sum(weights.values())
            second = datetime.fromtimestamp(int(time.time()) - 1, UTC)
            data: list[dict[str, Any]] = []
            for side, code in (("blue", "Code1"), ("green", "Code2")):
                requests = round(rate * weights.get(side, 0) / total)
                if not requests:
                    continue
                errors = sum(rng.random() < (green_errors if side == "green" else 0.0) for _ in range(requests))
                latency = green_latency if side == "green" else 0.010
                dimensions = [{"Name": "LoadBalancer", "Value": dimension(world.ids["lb"])},
                              {"Name": "TargetGroup", "Value": dimension(world.ids[code])}]
                data.append({"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": second,
                             "Value": requests})
                if errors:
                    data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions,
                                 "Timestamp": second, "Value": errors})
                data.append({"MetricName": "TargetResponseTime", "Dimensions": dimensions, "Timestamp": second,
                             "Values": [rng.lognormvariate(0, 0.2) * latency for _ in range(min(requests, 20))]})
            if data:
                cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def canary(world: World, minutes: float = 0.5, **judge: Any) -> dict[str, Any]:
    return world.request(approval={"required": False}, traffic={
        "strategy": f"canary:20:{minutes}", "bakeSeconds": 0, "checkIntervalSeconds": 1, "judge": {**JUDGE, **judge}})


def test_a_version_failing_5_percent_of_requests_is_rolled_back_during_the_canary(world: World) -> None:
    with traffic(world, green_errors=0.05, rate=200):
        execution = world.start(canary(world, minutes=1))
        described = world.wait(execution, timeout=70)
    assert described["error"] == "RolledBack"
    cause = described["cause"]
    assert "the judge found green worse than blue on 5XX rate" in cause
    assert "green's 5XX rate" in cause and "against blue's 0.00%" in cause and "two-proportion z" in cause
    assert production_weights(world) == {"blue": 1}
    notification = world.messages("notifications")[-1]
    assert notification["Subject"].startswith("Release rolled back") and "5XX rate" in notification["Message"]
    assert '"verdict": "fail"' in notification["Message"]  # the report carries the judge's figures


def test_a_version_300_ms_slower_is_rolled_back_on_latency(world: World) -> None:
    with traffic(world, green_latency=0.310):
        described = world.wait(world.start(canary(world, minutes=1)), timeout=70)
    assert described["error"] == "RolledBack"
    assert "the judge found green worse than blue on latency" in described["cause"]
    assert "Mann-Whitney" in described["cause"]


def test_a_healthy_version_under_the_same_traffic_is_released(world: World) -> None:
    with traffic(world):
        execution = world.start(canary(world, minutes=0.2))
        described = world.wait(execution, timeout=40)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    judged = json.loads(described["output"])["watch"]["judge"]  # the last look, at the end of the canary step
    assert judged["verdict"] == "pass" and judged["green"]["requests"] >= 30 and judged["blue"]["requests"] >= 30


@pytest.mark.parametrize(("on_short", "status"), [("proceed", "SUCCEEDED"), ("rollback", "FAILED")])
def test_no_traffic_is_not_enough_to_judge_and_is_handled_as_asked(world: World, on_short: str, status: str) -> None:
    described = world.wait(world.start(canary(world, minutes=0.05, onInsufficientTraffic=on_short)), timeout=30)
    assert described["status"] == status
    if status == "FAILED":
        assert described["error"] == "RolledBack" and "not enough traffic to judge" in described["cause"]
    assert production_weights(world) == ({"green": 1} if status == "SUCCEEDED" else {"blue": 1})


def test_green_whose_targets_all_keep_failing_is_stopped_after_three_checks_with_the_stopped_tasks(
        world: World) -> None:
    from moto.ecs.models import ecs_backends

    backend = ecs_backends["123456789012"]["us-east-1"]
    service = backend.services["shop:shop-code2"]
    definition = backend.describe_task_definition(str(service.task_definition))
    moto_ext.stopped_task(backend, backend._get_cluster("shop"), definition, service,
                          f"Task failed ELB health checks in (target-group {world.ids['Code2']})", None)
    for target in ("10.0.2.10", "10.0.2.11"):
        moto_ext.set_target_health(world.ids["Code2"], target, "unhealthy", "Target.ResponseCodeMismatch",
                                   "Health checks failed with these codes: [500]")
    started = time.monotonic()
    described = world.wait(world.start(world.request(health={
        "deadlineSeconds": 600, "pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1})), timeout=30)
    assert time.monotonic() - started < 15  # three checks a second apart, not the 600 s deadline
    assert described["error"] == "GreenUnhealthy"
    cause = described["cause"]
    assert "waiting will not fix it: all 2 target(s) unhealthy" in cause and "3 consecutive failing check(s)" in cause
    assert "Task failed ELB health checks in (target-group" in cause
    assert world.production_target() == world.ids["Code1"]


def test_green_whose_new_tasks_stopped_as_often_as_ecs_circuit_breaker_allows_is_stopped_at_the_first_check(
        world: World) -> None:
    """The old deployment's tasks still serve (its targets healthy), as during ECS's rolling update."""
    from moto.ecs.models import ecs_backends

    backend = ecs_backends["123456789012"]["us-east-1"]
    service = backend.services["shop:shop-code2"]
    definition = backend.describe_task_definition(str(service.task_definition))
    for exit_code in (1, 1, 1):
        moto_ext.stopped_task(backend, backend._get_cluster("shop"), definition, service,
                              "Essential container in task exited", exit_code)
    moto_ext.settle_service("shop", "shop-code2", running=1)
    service.deployments[0]["failedTasks"] = 3
    described = world.wait(world.start(world.request(health={
        "deadlineSeconds": 600, "pollIntervalSeconds": 5, "maxPollIntervalSeconds": 5})), timeout=30)
    assert described["error"] == "GreenUnhealthy"
    assert "3 task(s) of the new deployment stopped" in described["cause"]
    assert "(1 consecutive failing check(s)" in described["cause"]
    assert "Essential container in task exited (web: exit code 1): tasks " in described["cause"]
