"""The local load balancer's CloudWatch metrics, as an ALB publishes them (namespace AWS/ApplicationELB).

Per target group and load balancer (dimensions TargetGroup and LoadBalancer): RequestCount, HTTPCode_Target_5XX_Count,
TargetConnectionErrorCount (a target that refused or dropped the connection: the proxy answers 502) and
TargetResponseTime (seconds from sending the request to the target until its response headers came back), put
in the emulated CloudWatch once per second (an ALB publishes per minute: the finer period keeps tests short). As on
AWS a period without requests has no data point, and HTTPCode_Target_5XX_Count none without a 5XX answer.
TargetResponseTime is put as raw values, so that percentiles (p90) are computed from them: up to
`LATENCY_SAMPLES` requests' values per second and target group, a uniform sample (the emulated CloudWatch keeps and
scans every value, and per-second periods give the judge many periods).
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

ACCOUNT, REGION = "123456789012", "us-east-1"
NAMESPACE = "AWS/ApplicationELB"
LATENCY_SAMPLES = 20
RETENTION_SECONDS = 3 * 3600  # the sandbox keeps three hours of data points (CloudWatch keeps them 15 days)


def dimension(arn: str) -> str:
    """The dimension value of a load balancer or target group ARN: app/NAME/ID or targetgroup/NAME/ID."""
    return arn.split(":", 5)[-1].removeprefix("loadbalancer/")


@dataclass
class _Second:
    requests: int = 0
    errors: int = 0
    refused: int = 0
    latencies: list[float] = field(default_factory=list)


class LoadBalancerMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[tuple[str, str, int], _Second] = defaultdict(_Second)
        self._pruned = time.time()

    def record(self, load_balancer_arn: str, target_group_arn: str, status: int, seconds: float,
               when: float | None = None) -> None:
        """One request answered by a target of the group: its status and its target's response time."""
        key = (dimension(load_balancer_arn), dimension(target_group_arn), int(when or time.time()))
        with self._lock:
            second = self._seconds[key]
            second.requests += 1
            second.errors += 500 <= status <= 599
            if len(second.latencies) < LATENCY_SAMPLES:  # reservoir sampling: each request equally likely kept
                second.latencies.append(round(seconds, 4))
            else:
                slot = random.randrange(second.requests)  # noqa: S311 - sampling, not a secret
                if slot < LATENCY_SAMPLES:
                    second.latencies[slot] = round(seconds, 4)

    def record_connection_error(self, load_balancer_arn: str, target_group_arn: str) -> None:
        """A request the target refused or dropped: not in RequestCount, as on an ALB."""
        key = (dimension(load_balancer_arn), dimension(target_group_arn), int(time.time()))
        with self._lock:
            self._seconds[key].refused += 1

    def publish(self, now: float | None = None) -> int:
        """Put every second that has ended into CloudWatch; how many data points were put."""
        current = int(now or time.time())
        with self._lock:
            done = {key: value for key, value in self._seconds.items() if key[2] < current}
            for key in done:
                del self._seconds[key]
        data: list[dict[str, Any]] = []
        for (load_balancer, target_group, second), figures in sorted(done.items()):
            dimensions = [{"Name": "LoadBalancer", "Value": load_balancer},
                          {"Name": "TargetGroup", "Value": target_group}]
            stamp = datetime.fromtimestamp(second, UTC).replace(tzinfo=None)  # moto keeps UTC times naive
            common = {"Dimensions": dimensions, "Timestamp": stamp}
            if figures.requests:
                data.append({**common, "MetricName": "RequestCount", "Value": float(figures.requests),
                             "Unit": "Count"})
            if figures.refused:
                data.append({**common, "MetricName": "TargetConnectionErrorCount", "Value": float(figures.refused),
                             "Unit": "Count"})
            if figures.errors:
                data.append({**common, "MetricName": "HTTPCode_Target_5XX_Count", "Value": float(figures.errors),
                             "Unit": "Count"})
            if figures.latencies:
                data.append({**common, "MetricName": "TargetResponseTime", "Values": figures.latencies,
                             "Unit": "Seconds"})
        backend = cloudwatch_backends[ACCOUNT][REGION]
        if data:
            backend.put_metric_data(NAMESPACE, data)
        if current - self._pruned > 60:
            self._prune(backend, current - RETENTION_SECONDS)
        return len(data)

    def _prune(self, backend: Any, before: float) -> None:
        cutoff = datetime.fromtimestamp(before, UTC)
        backend.metric_data = [m for m in backend.metric_data
                               if m.namespace != NAMESPACE or _aware(m.timestamp) >= cutoff]
        self._pruned = time.time()


def _aware(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
