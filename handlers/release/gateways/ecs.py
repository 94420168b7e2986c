"""Amazon ECS: the services of the pair and the images their task definitions run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import aws, observed
from ..exceptions import ServiceNotFound

_DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services per call
_TASK_BATCH = 100  # ListTasks answers at most 100 per page, DescribeTasks takes at most 100


class Containers:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("ecs")

    def services_in(self, cluster: str) -> list[observed.Service]:
        """Every active service of the cluster, without images (see `images`)."""
        missing = {"ClusterNotFoundException": ServiceNotFound(
            f"ECS cluster {cluster!r} was not found. Check 'cluster' in the request.")}
        pages = aws.pages("ecs:ListServices", self._client.get_paginator("list_services"), on=missing,
                          cluster=cluster)
        arns = [arn for page in pages for arn in page["serviceArns"]]
        described = []
        for start in range(0, len(arns), _DESCRIBE_BATCH):  # the cluster may vanish between the two calls
            described += self._describe(cluster, arns[start:start + _DESCRIBE_BATCH], on=missing)
        return [_service(s) for s in described if s.get("status") == "ACTIVE"]

    def service(self, cluster: str, service_arn: str) -> observed.Service:
        described = self._describe(cluster, [service_arn])
        if not described or described[0].get("status") != "ACTIVE":
            raise ServiceNotFound(f"ECS service {service_arn} no longer exists or is not active.")
        return _service(described[0])

    def images(self, task_definition: str) -> tuple[str, ...]:
        described = aws.call("ecs:DescribeTaskDefinition", self._client.describe_task_definition,
                             taskDefinition=task_definition)["taskDefinition"]
        return tuple(c["image"] for c in described["containerDefinitions"] if c.get("essential", True))

    def stopped_tasks(self, cluster: str, service_name: str, task_definition: str,
                      limit: int = 5) -> list[observed.StoppedTask]:
        """The service's tasks of `task_definition` that stopped, latest first, with their reasons. ECS lists
        stopped tasks for about an hour, in no stated order, with those of earlier deployments."""
        arns = aws.call("ecs:ListTasks", self._client.list_tasks, cluster=cluster, serviceName=service_name,
                        desiredStatus="STOPPED", maxResults=_TASK_BATCH)["taskArns"]
        if not arns:
            return []
        described = aws.call("ecs:DescribeTasks", self._client.describe_tasks, cluster=cluster, tasks=arns)["tasks"]
        ours = sorted((t for t in described if t.get("taskDefinitionArn") == task_definition),
                      key=lambda t: str(t.get("stoppedAt") or ""), reverse=True)
        return [observed.StoppedTask(
            task_id=t["taskArn"].rsplit("/", 1)[-1], stopped_reason=t.get("stoppedReason") or "no reason given",
            container_reasons=tuple(
                f"{c.get('name', 'container')}: " + (c.get("reason") or f"exit code {c.get('exitCode')}")
                for c in t.get("containers", []) if c.get("reason") or c.get("exitCode") not in (None, 0)))
            for t in ours[:limit]]

    def _describe(self, cluster: str, arns: list[str],
                  on: Mapping[str, Exception] | None = None) -> list[dict[str, Any]]:
        if not arns:
            return []
        return list(aws.call("ecs:DescribeServices", self._client.describe_services, on=on,
                             cluster=cluster, services=arns)["services"])


def _service(s: dict[str, Any]) -> observed.Service:
    return observed.Service(
        cluster_arn=s["clusterArn"],
        arn=s["serviceArn"],
        name=s["serviceName"],
        task_definition=s["taskDefinition"],
        target_group_arns=frozenset(lb["targetGroupArn"] for lb in s.get("loadBalancers", [])
                                    if "targetGroupArn" in lb),
        desired=s["desiredCount"],
        running=s["runningCount"],
        deployments=tuple(observed.Deployment(d["status"], d["taskDefinition"], d["desiredCount"],
                                              d["runningCount"], d.get("rolloutState"), d.get("failedTasks", 0))
                          for d in s.get("deployments", [])),
    )
