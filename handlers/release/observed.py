"""What the gateways observed in AWS: plain, immutable values the pure domain code decides on."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Listener:
    arn: str
    port: int
    protocol: str
    default_actions: tuple[dict[str, Any], ...]
    # Target groups that non-default rules of this listener forward to.
    rule_target_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LoadBalancer:
    arn: str
    name: str
    dns_name: str


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    status: str  # PRIMARY | ACTIVE | INACTIVE
    task_definition: str
    desired: int
    running: int
    rollout_state: str | None
    failed_tasks: int = 0  # tasks of this deployment that stopped without being asked to


@dataclass(frozen=True)
class Service:
    cluster_arn: str
    arn: str
    name: str
    task_definition: str
    target_group_arns: frozenset[str]
    desired: int
    running: int
    deployments: tuple[Deployment, ...]
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetHealth:
    target_id: str
    port: int | None
    state: str  # healthy | unhealthy | initial | draining | unused | unavailable
    reason: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class StoppedTask:
    task_id: str
    stopped_reason: str
    container_reasons: tuple[str, ...] = ()  # e.g. "app: exit code 1", "app: CannotPullContainerError: ..."


@dataclass(frozen=True)
class ProbeResult:
    url: str
    status: int | None
    error: str | None = None


@dataclass(frozen=True)
class SideFigures:
    """One target group's metrics over the judged window, one value per period that had requests."""

    requests: int  # RequestCount, plus the requests its targets refused
    errors: int  # HTTPCode_Target_5XX_Count plus TargetConnectionErrorCount
    latencies: tuple[float, ...]  # TargetResponseTime's percentile per period, seconds

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None
