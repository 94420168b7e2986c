"""Observing one side's health: service steady state, target health, and the optional HTTP probe."""

from __future__ import annotations

from .config import ProbeConfig
from .gateways.ecs import Containers
from .gateways.elbv2 import LoadBalancing
from .gateways.probe import probe
from .health import HealthReport, compute_report, evaluate_probe, evaluate_service, evaluate_targets
from .topology import SideRef, Topology


def check_side(side: SideRef, topology: Topology, probe_config: ProbeConfig | None,
               load_balancing: LoadBalancing, containers: Containers) -> HealthReport:
    service = containers.service(side["service"]["clusterArn"], side["service"]["serviceArn"])
    targets = load_balancing.target_health(side["targetGroupArn"])
    checks = [evaluate_service(service), evaluate_targets(side["targetGroupName"], targets)]
    if probe_config is not None:
        base = probe_config["baseUrl"] or f"http://{topology['dnsName']}:{topology['test']['port']}"
        result = probe(base + probe_config["path"], probe_config["timeoutSeconds"])
        checks.append(evaluate_probe(result, probe_config["expectedStatus"]))
    return compute_report(checks)
