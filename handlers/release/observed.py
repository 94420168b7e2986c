"""What the gateways observed in AWS: plain, immutable values the pure domain code decides on."""

from __future__ import annotations

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
class ProbeResult:
    url: str
    status: int | None
    error: str | None = None
