"""Pure decisions for progressive traffic shifting, bake and automatic rollback.

Weights are integers (the ALB takes 0..999); green's share grows by the strategy's steps. The final
step to 100% is the checked swap, so a completed shift ends exactly like an all-at-once release:
production on green alone, the test listener on blue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from . import observed
from .config import Insufficient, JudgeConfig, Strategy, TrafficConfig
from .exceptions import TopologyChanged, TopologyError
from .health import CheckResult
from .judging import Judgement, Verdict
from .topology import Topology, forward_weights


class ShiftStep(TypedDict):
    percent: int  # green's share of production traffic after this step
    done: bool  # True: the next move is the swap to 100%
    waitSeconds: int


def compute_next_percent(traffic: TrafficConfig, current: int) -> int:
    """Green's share after the next step (100 means: swap)."""
    if traffic["strategy"] == Strategy.CANARY.value:
        return traffic["stepPercent"] if current == 0 else 100
    if traffic["strategy"] == Strategy.LINEAR.value:
        return min(current + traffic["stepPercent"], 100)
    return 100


def compute_step(traffic: TrafficConfig, current: int) -> ShiftStep:
    nxt = compute_next_percent(traffic, current)
    return {"percent": nxt, "done": nxt >= 100, "waitSeconds": 0 if nxt >= 100 else traffic["intervalSeconds"]}


def compute_weighted_actions(actions: Sequence[Mapping[str, Any]], blue: str, green: str,
                             green_percent: int) -> list[dict[str, Any]]:
    """The listener's default actions with the forward split blue/green; other actions are kept."""
    result: list[dict[str, Any]] = []
    for action in actions:
        if action.get("Type") != "forward":
            result.append(dict(action))
            continue
        new: dict[str, Any] = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": blue, "Weight": 100 - green_percent},
            {"TargetGroupArn": green, "Weight": green_percent}]}}
        if "Order" in action:
            new["Order"] = action["Order"]
        result.append(new)
    return result


def green_share(listener: observed.Listener, topology: Topology) -> int:
    """Green's share of the production listener now; TopologyChanged if it forwards anywhere else."""
    blue, green = topology["blue"]["targetGroupArn"], topology["green"]["targetGroupArn"]
    try:
        weights = {arn: w for arn, w in forward_weights(listener).items() if w > 0}
    except TopologyError as exc:
        raise TopologyChanged(f"The production listener changed during the shift: {exc} Nothing was changed.") \
            from exc
    if not weights or not set(weights) <= {blue, green}:
        raise TopologyChanged(f"The production listener forwards to {', '.join(weights) or 'nothing'}, outside the "
                              "pair being released. Nothing was changed.")
    return round(100 * weights.get(green, 0) / sum(weights.values()))


def evaluate_alarms(alarms: Sequence[Mapping[str, Any]], names: Sequence[str]) -> CheckResult:
    """Every named alarm exists and none is in ALARM (INSUFFICIENT_DATA is not a failure)."""
    found = {a["AlarmName"]: a for a in alarms}
    missing = [n for n in names if n not in found]
    firing = [f"{n} ({found[n].get('StateReason', 'in ALARM')})" for n in names
              if n in found and found[n]["StateValue"] == "ALARM"]
    if missing:
        return {"check": "alarms", "ok": False, "detail": f"alarm(s) not found: {', '.join(missing)}"}
    if firing:
        return {"check": "alarms", "ok": False, "detail": f"alarm(s) in ALARM: {'; '.join(firing)}"}
    return {"check": "alarms", "ok": True, "detail": f"{len(names)} alarm(s) OK" if names else "no alarms named"}


class WatchState(TypedDict):
    phase: str  # "shift" (a step is in progress) or "bake"
    stepPercent: int
    since: float  # when this step or the bake began (epoch seconds)
    firstMoveAt: float  # when green first took production traffic: the judge's baseline for the bake ends there
    ok: bool
    reason: str
    done: bool  # the step's time, or the bake, is over
    waitSeconds: int
    checks: list[CheckResult]
    judge: Judgement | None  # the judge's last word, None when it is off


def watch_clock(previous: Mapping[str, Any], phase: str, step_percent: int, now: float) -> tuple[float, float]:
    """(since, firstMoveAt): when this step or the bake began, and when green first took production traffic."""
    fresh = previous.get("phase") != phase or previous.get("stepPercent") != step_percent
    since = now if fresh else float(previous["since"])
    return since, float(previous.get("firstMoveAt") or since)


def compute_watch(previous: Mapping[str, Any], phase: str, step_percent: int, duration: int, check_interval: int,
                  checks: list[CheckResult], abort: str | None, now: float, judgement: Judgement | None = None,
                  judge: JudgeConfig | None = None) -> WatchState:
    """One look at green while it takes traffic: anything wrong means roll back; else wait or move on.

    A judge that lacks traffic when the time is over proceeds, holds the step up to its limit, or rolls back,
    as configured. A judged step lasts two periods longer, so that the judge reads its last period.
    """
    since, first_move = watch_clock(previous, phase, step_percent, now)
    if judgement is not None and judge is not None:
        duration += 2 * judge["periodSeconds"]  # until the step's last period has been published and read
    problems = [c["detail"] for c in checks if not c["ok"]] + ([abort] if abort else [])
    if judgement is not None and judgement["verdict"] == Verdict.FAIL:
        problems.append(f"the judge found green worse than blue on {judgement['metric']}: {judgement['reason']}")
    remaining = duration - (now - since)
    if (not problems and remaining <= 0 and judge is not None and judgement is not None
            and judgement["verdict"] == Verdict.INSUFFICIENT):
        held, name = now - since - duration, "bake" if phase == "bake" else "step"
        if judge["onInsufficientTraffic"] == Insufficient.ROLLBACK:
            problems.append(f"{judgement['reason']} when the {name} ended")
        elif judge["onInsufficientTraffic"] == Insufficient.HOLD:
            if held >= judge["holdSeconds"]:
                problems.append(f"{judgement['reason']} after holding the {name} {judge['holdSeconds']} s longer")
            else:  # keep watching: more traffic may come
                remaining = min(check_interval, judge["holdSeconds"] - held)
    return {"phase": phase, "stepPercent": step_percent, "since": since, "firstMoveAt": first_move,
            "ok": not problems, "reason": "; ".join(problems), "done": not problems and remaining <= 0,
            "waitSeconds": max(1, min(check_interval, int(remaining + 0.999))) if remaining > 0 else 0,
            "checks": checks, "judge": judgement}
