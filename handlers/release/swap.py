"""Pure swap decisions: a compare-and-set over the listeners, safe to run again after any failure.

Expected before: production -> blue, test -> green. After: production -> green, test -> blue.
Any other observed routing means someone else changed the load balancer: change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import observed
from .exceptions import SwapVerificationFailed, TopologyChanged, TopologyError
from .topology import PRODUCTION_TAG, Topology, compute_forward_actions, forward_weights, single_target


class SwapDecision(StrEnum):
    SWAP = "swap"  # both listeners as discovered: move both
    RESUME = "resume"  # production already moved, test not yet (an earlier attempt stopped halfway)
    ALREADY_DONE = "already-done"  # both moved (a retry after the listeners changed): repair tags only


@dataclass(frozen=True)
class ListenerChange:
    listener_arn: str
    port: int
    target_group_arn: str
    actions: list[dict[str, Any]]


@dataclass(frozen=True)
class SwapPlan:
    decision: SwapDecision
    # Production first: if the second change fails, users are already on the approved side
    # and a retry resumes from there.
    listener_changes: tuple[ListenerChange, ...]
    production_tags: dict[str, str]


def plan_swap(topology: Topology, production_now: observed.Listener, test_now: observed.Listener,
              green_task_definition_now: str) -> SwapPlan:
    blue = topology["blue"]["targetGroupArn"]
    green = topology["green"]["targetGroupArn"]
    approved = topology["green"]["service"]["taskDefinition"]
    if green_task_definition_now != approved:
        raise TopologyChanged(
            f"Green service {topology['green']['service']['serviceName']} now runs {green_task_definition_now}, "
            f"not the approved {approved}. Nothing was changed; start a new release for the new version.")
    try:
        routing = (_production_target(production_now, blue, green), single_target(test_now))
    except TopologyError as exc:
        raise TopologyChanged(f"The listeners changed since discovery: {exc} Nothing was changed.") from exc

    change_production = ListenerChange(production_now.arn, production_now.port, green,
                                       compute_forward_actions(production_now.default_actions, green))
    change_test = ListenerChange(test_now.arn, test_now.port, blue,
                                 compute_forward_actions(test_now.default_actions, blue))
    tags = {green: "true", blue: "false"}
    if routing == (blue, green):
        return SwapPlan(SwapDecision.SWAP, (change_production, change_test), tags)
    if routing == (green, green):
        return SwapPlan(SwapDecision.RESUME, (change_test,), tags)
    if routing == (green, blue):
        return SwapPlan(SwapDecision.ALREADY_DONE, (), tags)
    raise TopologyChanged(
        f"Production (port {production_now.port}) forwards to {routing[0]} and test (port {test_now.port}) "
        f"to {routing[1]}; discovery saw {blue} and {green}. Nothing was changed; run the release again "
        "to act on the current topology.")


def _production_target(listener: observed.Listener, blue: str, green: str) -> str:
    """The production target, counting a blue/green split (a progressive shift) as still blue."""
    weights = {arn: w for arn, w in forward_weights(listener).items() if w > 0}
    if set(weights) == {blue, green}:
        return blue
    return single_target(listener)


def verify_swap(plan: SwapPlan, production_after: observed.Listener, test_after: observed.Listener,
                tags_after: dict[str, dict[str, str]], topology: Topology) -> None:
    """Raise SwapVerificationFailed unless the read-back routing and tags are what the plan promised."""
    green = topology["green"]["targetGroupArn"]
    blue = topology["blue"]["targetGroupArn"]
    problems = []
    for listener, expected in ((production_after, green), (test_after, blue)):
        try:
            actual = single_target(listener)
        except TopologyError as exc:
            actual = f"unreadable ({exc})"
        if actual != expected:
            problems.append(f"port {listener.port} forwards to {actual}, expected {expected}")
    for arn, expected in plan.production_tags.items():
        actual_tag = tags_after.get(arn, {}).get(PRODUCTION_TAG)
        if actual_tag != expected:
            problems.append(f"{arn} has {PRODUCTION_TAG}={actual_tag!r}, expected {expected!r}")
    if problems:
        raise SwapVerificationFailed("After the swap: " + "; ".join(problems) +
                                     ". Run the release again to finish the swap, or roll back.")


def compute_swapped(topology: Topology) -> Topology:
    """The topology as it is after a successful swap: the approved side is blue now."""
    return {
        **topology,
        "production": {**topology["production"], "targetGroupArn": topology["green"]["targetGroupArn"]},
        "test": {**topology["test"], "targetGroupArn": topology["blue"]["targetGroupArn"]},
        "blue": topology["green"],
        "green": topology["blue"],
        "tagProblems": [],
    }
