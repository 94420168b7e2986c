"""Moving production traffic: the checked swap, executed and verified."""

from __future__ import annotations

from typing import Any, TypedDict

from .config import TrafficConfig
from .exceptions import GreenUnhealthy, SwapVerificationFailed, TopologyChanged
from .gateways.ecs import Containers
from .gateways.elbv2 import LoadBalancing
from .health import evaluate_targets
from .observability import logger
from .shifting import ShiftStep, compute_step, compute_weighted_actions, green_share
from .swap import SwapDecision, compute_swapped, plan_swap, verify_swap
from .topology import PRODUCTION_TAG, Topology, compute_forward_actions, single_target


class SwapResult(TypedDict):
    decision: str
    topology: Topology


def reconcile_swap(topology: Topology, load_balancing: LoadBalancing, containers: Containers) -> SwapResult:
    """Bring the listeners and tags to 'green is production'; re-reads everything right before acting."""
    production_now, test_now = load_balancing.listeners_by_arn(topology["production"]["arn"], topology["test"]["arn"])
    green = topology["green"]
    green_now = containers.service(green["service"]["clusterArn"], green["service"]["serviceArn"])
    plan = plan_swap(topology, production_now, test_now, green_now.task_definition)
    if plan.decision is SwapDecision.SWAP:
        # Approval may have taken hours: never move users onto targets that are unhealthy now.
        targets = evaluate_targets(green["targetGroupName"], load_balancing.target_health(green["targetGroupArn"]))
        if not targets["ok"]:
            raise GreenUnhealthy(f"Green became unhealthy while waiting: {targets['detail']}. Nothing was changed.")
    logger.info("Swap planned", extra={"decision": plan.decision.value,
                                       "changes": [c.port for c in plan.listener_changes]})
    for change in plan.listener_changes:
        load_balancing.set_default_actions(change.listener_arn, change.actions)
        logger.info("Listener moved", extra={"port": change.port, "targetGroupArn": change.target_group_arn})
    for arn, value in plan.production_tags.items():
        load_balancing.tag(arn, PRODUCTION_TAG, value)
    production_after, test_after = load_balancing.listeners_by_arn(topology["production"]["arn"],
                                                                   topology["test"]["arn"])
    verify_swap(plan, production_after, test_after, load_balancing.tags(plan.production_tags), topology)
    return {"decision": plan.decision.value, "topology": compute_swapped(topology)}


def production_side(topology: Topology, load_balancing: LoadBalancing) -> dict[str, Any]:
    """Where the production listener points right now, named by the side it belongs to."""
    arn = single_target(load_balancing.listener_by_arn(topology["production"]["arn"]))
    for side in (topology["blue"], topology["green"]):
        if side["targetGroupArn"] == arn:
            return {"targetGroupArn": arn, "targetGroupName": side["targetGroupName"],
                    "serviceName": side["service"]["serviceName"], "images": side["service"]["images"]}
    return {"targetGroupArn": arn, "targetGroupName": arn.split("/")[-2] if "/" in arn else arn,
            "serviceName": None, "images": []}


def reconcile_shift(topology: Topology, traffic: TrafficConfig, current: int,
                    load_balancing: LoadBalancing) -> ShiftStep:
    """Move production to the strategy's next weight; the last step (100%) is left to the checked swap."""
    step = compute_step(traffic, current)
    if step["done"]:
        return step
    blue, green = topology["blue"], topology["green"]
    listener = load_balancing.listener_by_arn(topology["production"]["arn"])
    now = green_share(listener, topology)
    if now not in (current, step["percent"]):
        raise TopologyChanged(f"Production sends {now}% to green, but the release left it at {current}%. "
                              "Someone else changed the listener; nothing was changed.")
    if now != step["percent"]:
        if current == 0:  # the first users green gets: check its targets right before
            targets = evaluate_targets(green["targetGroupName"],
                                       load_balancing.target_health(green["targetGroupArn"]))
            if not targets["ok"]:
                raise GreenUnhealthy(f"Green became unhealthy while waiting: {targets['detail']}. "
                                     "Nothing was changed.")
        load_balancing.set_default_actions(listener.arn, compute_weighted_actions(
            listener.default_actions, blue["targetGroupArn"], green["targetGroupArn"], step["percent"]))
        logger.info("Traffic shifted", extra={"greenPercent": step["percent"]})
    after = green_share(load_balancing.listener_by_arn(listener.arn), topology)
    if after != step["percent"]:
        raise SwapVerificationFailed(f"After shifting, production sends {after}% to green, not {step['percent']}%.")
    return step


def reconcile_rollback(topology: Topology, load_balancing: LoadBalancing) -> dict[str, Any]:
    """Production back on blue alone, test on green, tags to match; safe to run again."""
    blue, green = topology["blue"]["targetGroupArn"], topology["green"]["targetGroupArn"]
    production, test = load_balancing.listeners_by_arn(topology["production"]["arn"], topology["test"]["arn"])
    green_share(production, topology)  # TopologyChanged if production points outside the pair: leave it
    for listener, target in ((production, blue), (test, green)):
        load_balancing.set_default_actions(listener.arn, compute_forward_actions(listener.default_actions, target))
    for arn, value in ((blue, "true"), (green, "false")):
        load_balancing.tag(arn, PRODUCTION_TAG, value)
    after = load_balancing.listener_by_arn(production.arn)
    if single_target(after) != blue:
        raise SwapVerificationFailed("After rolling back, production does not forward to blue alone.")
    logger.info("Traffic rolled back to blue", extra={"targetGroupArn": blue})
    return {"production": topology["blue"]["targetGroupName"], "images": topology["blue"]["service"]["images"]}
