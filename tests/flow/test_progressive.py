"""Canary and linear shifts, the bake, alarms and aborts: the real ASL with the real handlers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from release.gateways.locks import LockStore
from tests.support.world import World

pytestmark = pytest.mark.flow


def production_weights(world: World) -> dict[str, int]:
    actions = world.client("elbv2").describe_listeners(ListenerArns=[world.ids["listener80"]])[
        "Listeners"][0]["DefaultActions"]
    forward = next(a for a in actions if a["Type"] == "forward")
    groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or [
        {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}]
    names = {world.ids["Code1"]: "blue", world.ids["Code2"]: "green"}
    return {names[g["TargetGroupArn"]]: int(g.get("Weight", 1)) for g in groups if int(g.get("Weight", 1)) > 0}


def alarm(world: World, name: str = "shop-5xx", state: str = "OK") -> str:
    cloudwatch = world.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test sets {state}")
    return name


def watch_weights(world: World, execution: str, timeout: float = 60) -> list[dict[str, int]]:
    """Every distinct production split seen while the execution runs."""
    seen: list[dict[str, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        weights = production_weights(world)
        if not seen or seen[-1] != weights:
            seen.append(weights)
        if world.client("stepfunctions").describe_execution(executionArn=execution)["status"] != "RUNNING":
            return seen
        time.sleep(0.05)
    raise AssertionError("execution still running")


def request(world: World, strategy: str, bake: int = 0, alarms: list[str] | None = None) -> dict[str, Any]:
    """The judge is on (canary and linear) and finds no traffic, so it lets each step proceed; its per-second
    period keeps the steps short (a judged step lasts two periods longer: 2 s here, 2 min on AWS's 60 s)."""
    return world.request(approval={"required": False}, traffic={
        "strategy": strategy, "bakeSeconds": bake, "checkIntervalSeconds": 1, "alarms": alarms or [],
        "judge": {"periodSeconds": 1}})


def test_canary_sends_a_share_then_everything(world: World) -> None:
    execution = world.start(request(world, "canary:10:0.05"))  # 10% for 3 s
    seen = watch_weights(world, execution)
    assert world.wait(execution)["status"] == "SUCCEEDED"
    assert seen[0] == {"blue": 1} and {"blue": 90, "green": 10} in seen and seen[-1] == {"green": 1}
    assert world.listener_target(8080) == world.ids["Code1"]  # the old version stays testable
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}


def test_linear_moves_in_equal_steps(world: World) -> None:
    execution = world.start(request(world, "linear:25:0.02"))
    seen = watch_weights(world, execution)
    assert world.wait(execution)["status"] == "SUCCEEDED"
    splits = [s.get("green", 0) * 100 // sum(s.values()) for s in seen]
    assert splits == [0, 25, 50, 75, 100]


def test_alarm_during_canary_rolls_back_to_blue(world: World) -> None:
    name = alarm(world)
    execution = world.start(request(world, "canary:20:0.5", alarms=[name]))  # 20% for 30 s
    deadline = time.monotonic() + 30
    while production_weights(world) != {"blue": 80, "green": 20} and time.monotonic() < deadline:
        time.sleep(0.05)
    fired = time.monotonic()
    world.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="5xx above 5")
    while production_weights(world) != {"blue": 1} and time.monotonic() < deadline:
        time.sleep(0.05)
    back_on_blue = time.monotonic() - fired
    described = world.wait(execution)
    assert described["error"] == "RolledBack" and "shop-5xx (5xx above 5)" in described["cause"]
    assert back_on_blue < 5, f"{back_on_blue:.1f} s from alarm to blue"
    assert world.listener_target(8080) == world.ids["Code2"]
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}
    notification = world.messages("notifications")[-1]
    assert notification["Subject"].startswith("Release rolled back") and "shop-5xx" in notification["Message"]


def test_alarm_during_bake_rolls_back_after_the_swap(world: World) -> None:
    name = alarm(world)
    execution = world.start(request(world, "all-at-once", bake=30, alarms=[name]))
    deadline = time.monotonic() + 30
    while world.production_target() != world.ids["Code2"] and time.monotonic() < deadline:
        time.sleep(0.05)
    world.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="latency p99")
    described = world.wait(execution)
    assert described["error"] == "RolledBack" and "latency p99" in described["cause"]
    assert world.production_target() == world.ids["Code1"] and production_weights(world) == {"blue": 1}


def test_unhealthy_production_targets_during_bake_roll_back(world: World) -> None:
    from sandbox import moto_ext

    execution = world.start(request(world, "all-at-once", bake=30))
    deadline = time.monotonic() + 30
    while world.production_target() != world.ids["Code2"] and time.monotonic() < deadline:
        time.sleep(0.05)
    moto_ext.set_target_health(world.ids["Code2"], "10.0.2.11", "unhealthy", "Target.Timeout")
    described = world.wait(execution)
    assert described["error"] == "RolledBack" and "10.0.2.11:8000 unhealthy (Target.Timeout)" in described["cause"]
    assert world.production_target() == world.ids["Code1"]


def test_abort_during_a_shift_rolls_back(world: World) -> None:
    execution = world.start(request(world, "linear:10:0.5"))
    deadline = time.monotonic() + 30
    while "green" not in production_weights(world) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert LockStore(world.ids["locks"], world.client("dynamodb")).request_abort(
        world.ids["lb"], execution, "Grace", "customer complaints")
    described = world.wait(execution)
    assert described["error"] == "RolledBack" and "aborted by Grace: customer complaints" in described["cause"]
    assert production_weights(world) == {"blue": 1}


def test_a_missing_alarm_is_refused_before_anything_changes(world: World) -> None:
    described = world.wait(world.start(request(world, "canary:10:1", alarms=["no-such-alarm"])))
    assert described["error"] == "AlarmNotFound" and "no-such-alarm" in described["cause"]
    assert production_weights(world) == {"blue": 1}


def test_shift_output_reports_the_steps(world: World) -> None:
    described = world.wait(world.start(request(world, "canary:5:0")))
    output = json.loads(described["output"])
    assert output["config"]["traffic"]["strategy"] == "canary" and output["shift"]["done"] is True


def test_a_final_swap_that_keeps_failing_after_a_canary_sends_traffic_back_to_blue(world: World) -> None:
    from tests.flow import test_release

    failures = test_release.fail_modify_listener(world.ids["listener8080"], times=6)  # each swap attempt, no more
    try:
        described = world.wait(world.start(request(world, "canary:10:0.02")), timeout=150)
    finally:
        while test_release._PATCHES:
            test_release._PATCHES.pop().stop()
    assert described["error"] == "AwsTransientError" and failures["raised"] == 6
    assert production_weights(world) == {"blue": 1}
    assert world.listener_target(8080) == world.ids["Code2"]
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}
    assert "Traffic was rolled back to shop-code1" in described["cause"]
