"""Observing a side: its health (service steady state, target health, the optional HTTP probe), and green judged
against blue on the load balancer's metrics."""

from __future__ import annotations

from .config import JudgeConfig, ProbeConfig
from .gateways.ecs import Containers
from .gateways.elbv2 import LoadBalancing
from .gateways.metrics import Metrics
from .gateways.probe import probe
from .health import HealthReport, compute_report, evaluate_definite, evaluate_probe, evaluate_service, evaluate_targets
from .judging import Judgement, judge, judged_windows
from .observed import SideFigures
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
    return compute_report(checks, evaluate_definite(service, targets, side["service"]["taskDefinition"]))


NO_TRAFFIC = SideFigures(requests=0, errors=0, latencies=())


def judge_green(topology: Topology, config: JudgeConfig, phase: str, since: float, first_move: float, now: float,
                bake_seconds: int, metrics: Metrics) -> Judgement:
    """Green against blue over the step so far (during the bake: against blue before green took traffic)."""
    period, statistic = config["periodSeconds"], config["latencyPercentile"]
    green_window, blue_window = judged_windows(phase, since, first_move, now, period, bake_seconds,
                                               config["minPeriods"])
    green, blue, lb = topology["green"]["targetGroupArn"], topology["blue"]["targetGroupArn"], \
        topology["loadBalancerArn"]
    figures: dict[str, SideFigures] = {}
    if green_window == blue_window:  # one call for both
        if green_window[1] > green_window[0]:
            figures = metrics.target_groups(lb, [green, blue], *green_window, period, statistic)
    else:
        figures = metrics.target_groups(lb, [blue], *blue_window, period, statistic)
        if green_window[1] > green_window[0]:
            figures |= metrics.target_groups(lb, [green], *green_window, period, statistic)
    # During the bake blue's figures are from before the move: error rates compare, latency under another load not.
    judgement = judge(figures.get(green, NO_TRAFFIC), figures.get(blue, NO_TRAFFIC), config,
                      compare_latency=green_window == blue_window)
    judgement["window"] = {"greenFrom": green_window[0], "greenTo": green_window[1],
                           "blueFrom": blue_window[0], "blueTo": blue_window[1]}
    return judgement
