from __future__ import annotations

import pytest

from release import exceptions as e
from release.config import parse_request
from release.shifting import compute_step, compute_watch, evaluate_alarms, green_share
from release.topology import compute_topology
from tests.unit.helpers import BLUE, GREEN, GROUPS, LB, OTHER, SERVICES, forward, listener, weighted

TOPOLOGY = compute_topology(LB, listener(80, forward(BLUE)), listener(8080, forward(GREEN)), GROUPS, SERVICES)


def traffic(strategy: str) -> dict[str, object]:
    return dict(parse_request({"loadBalancer": "a", "cluster": "c", "traffic": {"strategy": strategy}})["traffic"])


@pytest.mark.parametrize(("strategy", "percents"), [
    ("canary:10:5", [10, 100]), ("linear:25:1", [25, 50, 75, 100]), ("linear:30:1", [30, 60, 90, 100]),
    ("all-at-once", [100]),
])
def test_steps_end_with_the_swap(strategy: str, percents: list[int]) -> None:
    config, current, seen = traffic(strategy), 0, []
    while True:
        step = compute_step(config, current)  # type: ignore[arg-type]
        seen.append(step["percent"])
        if step["done"]:
            break
        current = step["percent"]
    assert seen == percents


def test_green_share_reads_weights_and_refuses_strangers() -> None:
    assert green_share(listener(80, weighted({BLUE: 90, GREEN: 10})), TOPOLOGY) == 10
    assert green_share(listener(80, forward(BLUE)), TOPOLOGY) == 0
    with pytest.raises(e.TopologyChanged):
        green_share(listener(80, weighted({BLUE: 90, OTHER: 10})), TOPOLOGY)


def test_alarms_in_alarm_or_missing_fail_the_watch() -> None:
    ok = {"AlarmName": "a", "StateValue": "OK"}
    firing = {"AlarmName": "b", "StateValue": "ALARM", "StateReason": "5xx"}
    assert evaluate_alarms([ok], ["a"])["ok"]
    assert evaluate_alarms([{**ok, "StateValue": "INSUFFICIENT_DATA"}], ["a"])["ok"]
    assert "b (5xx)" in evaluate_alarms([ok, firing], ["a", "b"])["detail"]
    assert "not found: c" in evaluate_alarms([ok], ["a", "c"])["detail"]


def test_watch_clock_restarts_with_each_step_and_the_bake() -> None:
    good = [{"check": "targets", "ok": True, "detail": ""}]
    first = compute_watch({}, "shift", 10, 30, 5, good, None, now=1000)  # type: ignore[arg-type]
    assert (first["since"], first["done"], first["waitSeconds"]) == (1000, False, 5)
    later = compute_watch(first, "shift", 10, 30, 5, good, None, now=1031)  # type: ignore[arg-type]
    assert later["done"] and later["since"] == 1000
    next_step = compute_watch(later, "shift", 20, 30, 5, good, None, now=1032)  # type: ignore[arg-type]
    assert next_step["since"] == 1032 and not next_step["done"]
    bake = compute_watch(next_step, "bake", 100, 0, 5, good, None, now=1040)  # type: ignore[arg-type]
    assert bake["done"] and bake["ok"]


def test_a_problem_or_an_abort_fails_the_watch_with_the_reason() -> None:
    bad = [{"check": "alarms", "ok": False, "detail": "alarm(s) in ALARM: x"}]
    watch = compute_watch({}, "bake", 100, 60, 5, bad, "aborted by Ada: no", now=0)  # type: ignore[arg-type]
    assert not watch["ok"] and not watch["done"]
    assert watch["reason"] == "alarm(s) in ALARM: x; aborted by Ada: no"
