"""Builders of observed values for the pure domain tests."""

from __future__ import annotations

from typing import Any

from release import observed

BLUE = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1"
GREEN = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2"
OTHER = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/other/3"
LB = observed.LoadBalancer("arn:lb", "shop-alb", "shop-alb-1.elb.example")


def forward(arn: str) -> dict[str, Any]:
    return {"Type": "forward", "TargetGroupArn": arn}


def weighted(weights: dict[str, int]) -> dict[str, Any]:
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]}}


def listener(port: int, *actions: dict[str, Any], rules: frozenset[str] = frozenset()) -> observed.Listener:
    return observed.Listener(f"arn:listener/{port}", port, "HTTP", tuple(actions), rules)


def group(arn: str, identifier: str, production: str) -> observed.TargetGroup:
    return observed.TargetGroup(arn, arn.split("/")[-2], {"Identifier": identifier, "IsProduction": production})


def service(name: str, target_group: str, task_definition: str = "td:1", desired: int = 2, running: int = 2,
            rollout: str | None = "COMPLETED", image: str = "web:1") -> observed.Service:
    return observed.Service(
        cluster_arn="arn:cluster/shop", arn=f"arn:service/{name}", name=name, task_definition=task_definition,
        target_group_arns=frozenset({target_group}), desired=desired, running=running,
        deployments=(observed.Deployment("PRIMARY", task_definition, desired, running, rollout),),
        images=(image,))


GROUPS = {BLUE: group(BLUE, "Code1", "true"), GREEN: group(GREEN, "Code2", "false")}
SERVICES = [service("blue", BLUE, "td-blue:1", image="web:1"), service("green", GREEN, "td-green:2", image="web:2")]
