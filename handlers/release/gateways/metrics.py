"""Amazon CloudWatch: the load balancer's per-target-group metrics (AWS/ApplicationELB) the judge compares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .. import aws
from ..observed import SideFigures

NAMESPACE = "AWS/ApplicationELB"
# A target that refuses or drops the connection gets no 5XX of its own (the ALB answers 502 and counts it per
# load balancer only) and is not in RequestCount: its TargetConnectionErrorCount is added to both.
_QUERIES = (("requests", "RequestCount", "Sum"), ("errors", "HTTPCode_Target_5XX_Count", "Sum"),
            ("refused", "TargetConnectionErrorCount", "Sum"), ("latency", "TargetResponseTime", None))


def dimension(arn: str) -> str:
    """The metric dimension of a load balancer or target group ARN: its resource without "loadbalancer/", e.g.
    app/my-alb/50dc6c495c0c9188 and targetgroup/my-tg/73e2d6bc24d8a067."""
    return arn.split(":", 5)[-1].removeprefix("loadbalancer/")


class Metrics:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("cloudwatch")

    def target_groups(self, load_balancer_arn: str, target_group_arns: list[str], start: float, end: float,
                      period: int, percentile: str) -> dict[str, SideFigures]:
        """Each target group's requests, errors (5XX answers and connection errors) and latency percentile over
        [start, end) (epoch seconds), one GetMetricData for all of them. A period without requests has no data
        points: the ALB publishes none."""
        queries = []
        for index, arn in enumerate(target_group_arns):
            dimensions = [{"Name": "LoadBalancer", "Value": dimension(load_balancer_arn)},
                          {"Name": "TargetGroup", "Value": dimension(arn)}]
            for key, name, stat in _QUERIES:
                queries.append({"Id": f"{key}{index}", "ReturnData": True, "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dimensions},
                    "Period": period, "Stat": stat or percentile}})
        pages = aws.pages("cloudwatch:GetMetricData", self._client.get_paginator("get_metric_data"),
                          MetricDataQueries=queries, StartTime=datetime.fromtimestamp(start, UTC),
                          EndTime=datetime.fromtimestamp(end, UTC), ScanBy="TimestampAscending")
        values: dict[str, dict[datetime, float]] = {}
        for page in pages:
            for result in page["MetricDataResults"]:
                series = values.setdefault(result["Id"], {})
                series.update(zip(result["Timestamps"], result["Values"], strict=True))
        figures = {}
        for index, arn in enumerate(target_group_arns):
            requests, errors = values.get(f"requests{index}", {}), values.get(f"errors{index}", {})
            refused, latency = values.get(f"refused{index}", {}), values.get(f"latency{index}", {})
            figures[arn] = SideFigures(
                requests=round(sum(requests.values()) + sum(refused.values())),
                errors=round(sum(errors.values()) + sum(refused.values())),
                latencies=tuple(latency[when] for when in sorted(latency) if requests.get(when)))
        return figures
