"""Reading the live topology: gateways observe, the pure `topology` module decides."""

from __future__ import annotations

from dataclasses import replace

from .config import ReleaseConfig
from .gateways.ecs import Containers
from .gateways.elbv2 import LoadBalancing
from .topology import Topology, compute_topology, live_side, single_target


def discover(config: ReleaseConfig, load_balancing: LoadBalancing, containers: Containers,
             allow_split: bool = False) -> Topology:
    """Read-only. Any AWS error is raised with its cause; nothing is ever assumed from an error."""
    load_balancer = load_balancing.load_balancer(config["loadBalancer"])
    listeners = load_balancing.listeners(load_balancer.arn, {"production": config["productionPort"],
                                                             "test": config["testPort"]})
    production, test = listeners["production"], listeners["test"]
    green = single_target(test)
    pair = {live_side(production, green) if allow_split else single_target(production), green}
    groups = load_balancing.target_groups(pair)
    services = [replace(s, images=containers.images(s.task_definition))
                for s in containers.services_in(config["cluster"]) if s.target_group_arns & pair]
    return compute_topology(load_balancer, production, test, groups, services, config.get("expectedImage"),
                            allow_split)
