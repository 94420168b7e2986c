"""Elastic Load Balancing v2: the load balancer, its listeners, and the pair's target groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import aws, observed
from ..exceptions import ListenerNotFound, LoadBalancerNotFound, TargetGroupNotFound


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

    def listeners(self, load_balancer_arn: str, ports: Mapping[str, int]) -> dict[str, observed.Listener]:
        """The listener on each role's port ({"production": 80, "test": 8080}), with the target groups its
        non-default rules forward to; one read of the load balancer's listeners for all of them."""
        pages = aws.pages("elbv2:DescribeListeners", self._client.get_paginator("describe_listeners"),
                          LoadBalancerArn=load_balancer_arn)
        listeners = [item for page in pages for item in page["Listeners"]]
        found = {}
        for role, port in ports.items():
            match = [item for item in listeners if item["Port"] == port]
            if not match:
                ports_seen = ", ".join(str(item["Port"]) for item in listeners) or "none"
                raise ListenerNotFound(f"The load balancer has no {role} listener on port {port} (listeners: "
                                       f"{ports_seen}). Check '{role}Port' in the request.")
            item = match[0]
            rules = aws.call("elbv2:DescribeRules", self._client.describe_rules,
                             ListenerArn=item["ListenerArn"])["Rules"]
            rule_targets = frozenset(
                arn for rule in rules if not rule.get("IsDefault") for arn in _forward_targets(rule["Actions"]))
            found[role] = observed.Listener(item["ListenerArn"], item["Port"], item["Protocol"],
                                            tuple(item["DefaultActions"]), rule_targets)
        return found

    def listener(self, load_balancer_arn: str, port: int, role: str) -> observed.Listener:
        return self.listeners(load_balancer_arn, {role: port})[role]

    def listener_by_arn(self, listener_arn: str) -> observed.Listener:
        """Re-read one listener's default actions (rules are checked at discovery)."""
        return self.listeners_by_arn(listener_arn)[0]

    def listeners_by_arn(self, *listener_arns: str) -> tuple[observed.Listener, ...]:
        """Re-read listeners' default actions in one call, in the order asked."""
        gone = ListenerNotFound(f"Listener {' or '.join(listener_arns)} no longer exists.")
        items = {item["ListenerArn"]: item for item in aws.call(
            "elbv2:DescribeListeners", self._client.describe_listeners, on={"ListenerNotFound": gone},
            ListenerArns=list(listener_arns))["Listeners"]}
        missing = [arn for arn in listener_arns if arn not in items]
        if missing:
            raise ListenerNotFound(f"Listener {', '.join(missing)} no longer exists.")
        return tuple(observed.Listener(arn, items[arn]["Port"], items[arn]["Protocol"],
                                       tuple(items[arn]["DefaultActions"])) for arn in listener_arns)

    def target_groups(self, arns: Iterable[str]) -> dict[str, observed.TargetGroup]:
        """The pair's target groups with their tags. A target group's name is part of its ARN
        (...:targetgroup/<name>/<id>), and DescribeTags fails for one that does not exist: one call, not two."""
        arns = list(arns)

        def missing(names: list[str]) -> TargetGroupNotFound:
            return TargetGroupNotFound(f"Target group(s) {', '.join(names)} do not exist, yet a listener forwards "
                                       "to them. Point the listeners at the service's target groups.")

        tags = self.tags(arns, on={"TargetGroupNotFound": missing(arns)})  # what DescribeTags answers on AWS
        if absent := sorted(set(arns) - set(tags)):
            raise missing(absent)
        return {arn: observed.TargetGroup(arn, arn.split(":")[-1].split("/")[1], tags[arn]) for arn in arns}

    def tags(self, arns: Iterable[str], on: Mapping[str, Exception] | None = None) -> dict[str, dict[str, str]]:
        described = aws.call("elbv2:DescribeTags", self._client.describe_tags, on=on,
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
