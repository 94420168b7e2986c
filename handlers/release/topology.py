"""Pure topology decisions: which side is live, and is the pair fit for a release.

Invariant: the production listener is the truth about which side is live. The `IsProduction`
tags are reported when they disagree and repaired by the swap, never trusted over the listeners.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from . import observed
from .exceptions import (
    ListenerRulesReferenceTargetGroups,
    ListenersShareTargetGroup,
    ServiceNotFound,
    TopologyError,
    TrafficSplitInProgress,
    UnexpectedGreenImage,
    UnsupportedListenerAction,
)

IDENTIFIER_TAG = "Identifier"
PRODUCTION_TAG = "IsProduction"


class ListenerRef(TypedDict):
    arn: str
    port: int
    targetGroupArn: str
    protocol: NotRequired[str]  # HTTP or HTTPS (production with a certificate)


class ServiceRef(TypedDict):
    clusterArn: str
    serviceArn: str
    serviceName: str
    taskDefinition: str
    images: list[str]


class SideRef(TypedDict):
    targetGroupArn: str
    targetGroupName: str
    identifier: str | None
    service: ServiceRef


class Topology(TypedDict):
    loadBalancerArn: str
    loadBalancerName: str
    dnsName: str
    production: ListenerRef
    test: ListenerRef
    blue: SideRef
    green: SideRef
    tagProblems: list[str]


def listener_url(topology: Mapping[str, Any], which: str) -> str:
    """The URL of the production or test listener (`which`: "production" or "test"), by its protocol and port."""
    listener = topology[which]
    scheme = str(listener.get("protocol") or "HTTP").lower()
    return f"{scheme}://{topology['dnsName']}:{listener['port']}/"


def forward_weights(listener: observed.Listener) -> dict[str, int]:
    """Target group ARN -> weight for the listener's forward action (weight-0 groups get no traffic)."""
    forwards = [a for a in listener.default_actions if a.get("Type") == "forward"]
    if len(forwards) != 1:
        kinds = ", ".join(str(a.get("Type")) for a in listener.default_actions) or "none"
        raise UnsupportedListenerAction(
            f"Listener on port {listener.port} must have exactly one forward default action; it has: {kinds}. "
            "Point its default action at one of the pair's target groups.")
    action = forwards[0]
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    if groups:
        return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
    return {action["TargetGroupArn"]: 1}


def single_target(listener: observed.Listener) -> str:
    """The one target group that receives the listener's traffic, or TrafficSplitInProgress."""
    live = [arn for arn, weight in forward_weights(listener).items() if weight > 0]
    if len(live) != 1:
        raise TrafficSplitInProgress(
            f"Listener on port {listener.port} splits traffic across {len(live)} target groups "
            f"({', '.join(live) or 'none with weight > 0'}) and no shift is in progress. "
            "Finish or undo the split (forward to one target group) before releasing.")
    return live[0]


def live_side(production: observed.Listener, green_arn: str) -> str:
    """The production target that is not green, when production is split between blue and green."""
    others = [arn for arn, weight in forward_weights(production).items() if weight > 0 and arn != green_arn]
    return others[0] if len(others) == 1 else single_target(production)


def compute_forward_actions(actions: Sequence[Mapping[str, Any]], target_group_arn: str) -> list[dict[str, Any]]:
    """The listener's default actions with the forward action pointed at one target group.

    Other actions (authentication before the forward, for instance) are kept as they are.
    """
    result: list[dict[str, Any]] = []
    for action in actions:
        if action.get("Type") != "forward":
            result.append(dict(action))
            continue
        new: dict[str, Any] = {"Type": "forward", "TargetGroupArn": target_group_arn}
        if "Order" in action:
            new["Order"] = action["Order"]
        result.append(new)
    return result


def compute_topology(
    load_balancer: observed.LoadBalancer,
    production: observed.Listener,
    test: observed.Listener,
    target_groups: Mapping[str, observed.TargetGroup],
    services: Iterable[observed.Service],
    expected_image: str | None = None,
    allow_split: bool = False,
) -> Topology:
    """Decide blue (behind production) and green (behind test); raise a TopologyError if unfit.

    `allow_split` (for status reports) accepts production split between blue and green, as during a shift.
    """
    green_arn = single_target(test)
    blue_arn = live_side(production, green_arn) if allow_split else single_target(production)
    if blue_arn == green_arn:
        raise ListenersShareTargetGroup(
            f"Both listeners (ports {production.port} and {test.port}) forward to {blue_arn}. "
            "Point the test listener at the other target group of the pair, then release again.")
    pair = {blue_arn, green_arn}
    for listener in (production, test):
        shared = sorted(listener.rule_target_groups & pair)
        if shared:
            raise ListenerRulesReferenceTargetGroups(
                f"Listener on port {listener.port} has rules that forward to {', '.join(shared)}; "
                "the engine swaps default actions only. Remove those rules or move them to other target groups.")
    by_group = _services_by_group(services, pair)
    if by_group[blue_arn].arn == by_group[green_arn].arn:
        raise TopologyError(f"Service {by_group[blue_arn].name} is registered in both target groups; "
                            "blue and green must be two services.")
    blue = _side(target_groups[blue_arn], by_group[blue_arn])
    green = _side(target_groups[green_arn], by_group[green_arn])
    if expected_image is not None and expected_image not in green["service"]["images"]:
        raise UnexpectedGreenImage(
            f"Green service {green['service']['serviceName']} runs {', '.join(green['service']['images'])}, "
            f"not the expected image {expected_image}. Deploy the image to green before releasing.")
    return {
        "loadBalancerArn": load_balancer.arn,
        "loadBalancerName": load_balancer.name,
        "dnsName": load_balancer.dns_name,
        "production": {"arn": production.arn, "port": production.port, "targetGroupArn": blue_arn,
                       "protocol": production.protocol},
        "test": {"arn": test.arn, "port": test.port, "targetGroupArn": green_arn, "protocol": test.protocol},
        "blue": blue,
        "green": green,
        "tagProblems": compute_tag_problems(target_groups[blue_arn], target_groups[green_arn]),
    }


def compute_tag_problems(blue: observed.TargetGroup, green: observed.TargetGroup) -> list[str]:
    """Where the tags disagree with the listeners (reported, then repaired by the swap)."""
    problems = []
    for group, expected in ((blue, "true"), (green, "false")):
        actual = group.tags.get(PRODUCTION_TAG)
        if actual != expected:
            problems.append(f"{group.name}: {PRODUCTION_TAG} is {actual!r}, listeners say {expected!r}")
    identifiers = [blue.tags.get(IDENTIFIER_TAG), green.tags.get(IDENTIFIER_TAG)]
    if sorted(str(i) for i in identifiers) != ["Code1", "Code2"]:
        problems.append(f"{IDENTIFIER_TAG} tags are {identifiers!r}; expected one Code1 and one Code2")
    return problems


def _services_by_group(services: Iterable[observed.Service], pair: set[str]) -> dict[str, observed.Service]:
    found: dict[str, list[observed.Service]] = {arn: [] for arn in pair}
    for service in services:
        for arn in service.target_group_arns & pair:
            found[arn].append(service)
    result = {}
    for arn, matches in found.items():
        if not matches:
            raise ServiceNotFound(
                f"No ECS service in the cluster is registered in target group {arn}. "
                "Check the 'cluster' in the request and the service's load balancer settings.")
        if len(matches) > 1:
            names = ", ".join(s.name for s in matches)
            raise TopologyError(f"Several ECS services ({names}) are registered in target group {arn}; "
                                "each side of the pair must have exactly one.")
        result[arn] = matches[0]
    return result


def _side(group: observed.TargetGroup, service: observed.Service) -> SideRef:
    return {
        "targetGroupArn": group.arn,
        "targetGroupName": group.name,
        "identifier": group.tags.get(IDENTIFIER_TAG),
        "service": {
            "clusterArn": service.cluster_arn,
            "serviceArn": service.arn,
            "serviceName": service.name,
            "taskDefinition": service.task_definition,
            "images": list(service.images),
        },
    }
