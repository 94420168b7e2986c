"""Elastic Load Balancing v2: the load balancer, its listeners, and the pair's target groups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import aws, observed
from ..exceptions import ListenerNotFound, LoadBalancerNotFound


class LoadBalancing:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("elbv2")

    def load_balancer(self, name_or_arn: str) -> observed.LoadBalancer:
        key = "LoadBalancerArns" if name_or_arn.startswith("arn:") else "Names"
        missing = LoadBalancerNotFound(f"Load balancer {name_or_arn!r} was not found in this account and region. "
                                       "Check 'loadBalancer' in the request (a name or an ARN).")
        found = aws.call("elbv2:DescribeLoadBalancers", self._client.describe_load_balancers,
                         on={"LoadBalancerNotFound": missing, "ValidationError": missing},  # a malformed ARN
                         **{key: [name_or_arn]})["LoadBalancers"]
        lb = found[0]
        return observed.LoadBalancer(lb["LoadBalancerArn"], lb["LoadBalancerName"], lb["DNSName"])

    def listener(self, load_balancer_arn: str, port: int, role: str) -> observed.Listener:
        """The listener on `port`, with the target groups its non-default rules forward to."""
        pages = aws.pages("elbv2:DescribeListeners", self._client.get_paginator("describe_listeners"),
                          LoadBalancerArn=load_balancer_arn)
        listeners = [item for page in pages for item in page["Listeners"]]
        match = [item for item in listeners if item["Port"] == port]
        if not match:
            ports = ", ".join(str(item["Port"]) for item in listeners) or "none"
            raise ListenerNotFound(f"The load balancer has no {role} listener on port {port} (listeners: {ports}). "
                                   f"Check '{role}Port' in the request.")
        item = match[0]
        rules = aws.call("elbv2:DescribeRules", self._client.describe_rules, ListenerArn=item["ListenerArn"])["Rules"]
        rule_targets = frozenset(
            arn for rule in rules if not rule.get("IsDefault") for arn in _forward_targets(rule["Actions"]))
        return observed.Listener(item["ListenerArn"], item["Port"], item["Protocol"],
                                 tuple(item["DefaultActions"]), rule_targets)

    def listener_by_arn(self, listener_arn: str) -> observed.Listener:
        """Re-read one listener's default actions (rules are checked at discovery)."""
        gone = ListenerNotFound(f"Listener {listener_arn} no longer exists.")
        item = aws.call("elbv2:DescribeListeners", self._client.describe_listeners, on={"ListenerNotFound": gone},
                        ListenerArns=[listener_arn])["Listeners"][0]
        return observed.Listener(item["ListenerArn"], item["Port"], item["Protocol"], tuple(item["DefaultActions"]))

    def target_groups(self, arns: Iterable[str]) -> dict[str, observed.TargetGroup]:
        arns = list(arns)
        groups = aws.call("elbv2:DescribeTargetGroups", self._client.describe_target_groups,
                          TargetGroupArns=arns)["TargetGroups"]
        tags = self.tags(arns)
        return {g["TargetGroupArn"]: observed.TargetGroup(g["TargetGroupArn"], g["TargetGroupName"],
                                                          tags.get(g["TargetGroupArn"], {}))
                for g in groups}

    def tags(self, arns: Iterable[str]) -> dict[str, dict[str, str]]:
        described = aws.call("elbv2:DescribeTags", self._client.describe_tags,
                             ResourceArns=list(arns))["TagDescriptions"]
        return {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d.get("Tags", [])} for d in described}

    def target_health(self, target_group_arn: str) -> list[observed.TargetHealth]:
        described = aws.call("elbv2:DescribeTargetHealth", self._client.describe_target_health,
                             TargetGroupArn=target_group_arn)
        return [observed.TargetHealth(d["Target"]["Id"], d["Target"].get("Port"), d["TargetHealth"]["State"],
                                      d["TargetHealth"].get("Reason"), d["TargetHealth"].get("Description"))
                for d in described["TargetHealthDescriptions"]]

    def set_default_actions(self, listener_arn: str, actions: list[dict[str, Any]]) -> None:
        aws.call("elbv2:ModifyListener", self._client.modify_listener, ListenerArn=listener_arn,
                 DefaultActions=actions)

    def tag(self, arn: str, key: str, value: str) -> None:
        aws.call("elbv2:AddTags", self._client.add_tags, ResourceArns=[arn], Tags=[{"Key": key, "Value": value}])


def _forward_targets(actions: Iterable[dict[str, Any]]) -> list[str]:
    arns: list[str] = []
    for action in actions:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        arns.extend(g["TargetGroupArn"] for g in groups)
        if action.get("TargetGroupArn"):
            arns.append(action["TargetGroupArn"])
    return arns
