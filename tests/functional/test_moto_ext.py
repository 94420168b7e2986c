"""Every patch in `sandbox.moto_ext`, twice: the gap in plain moto, and the patch filling it as AWS does.

After a moto upgrade, a failing `test_moto_lacks_<patch>` names a patch that moto made unnecessary (drop it),
a failing `test_patch_fills_<patch>` one that no longer fits moto's internals (rework it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sandbox import moto_ext

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]


def _drop(patch: str) -> str:
    return f"moto now does this itself: the patch {patch!r} in sandbox/moto_ext.py is no longer needed"


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    moto_ext.install(check_version=False)  # these tests are how a new moto version gets checked
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # no AMI is used; loading them costs a second a test
    moto_ext.reset()
    client.cache_clear()  # a client made for one mock never reaches the next one's backends
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield
    client.cache_clear()
    moto_ext.reset()


_session = boto3.session.Session(region_name=REGION)  # one session: service models are loaded once


@functools.cache
def client(service: str) -> Any:
    return _session.client(service)  # type: ignore[call-overload]


# The registry and the version check


@pytest.mark.parametrize("patch", list(moto_ext.PATCHES))
def test_every_patch_has_a_test_of_its_gap_and_one_of_its_fill(patch: str) -> None:
    assert callable(globals().get(f"test_moto_lacks_{patch}")), f"no test shows the gap {patch!r} fills"
    assert callable(globals().get(f"test_patch_fills_{patch}")), f"no test shows {patch!r} filling its gap"
    assert moto_ext.PATCHES[patch].gap, f"{patch!r} does not say what moto lacks"


def test_without_every_patch_moto_is_as_shipped() -> None:
    moto_ext.install(check_version=False)
    before = moto_ext.applied()
    with moto_ext.without(*moto_ext.PATCHES):
        assert moto_ext.applied() == []
        assert _replaced_now() == set()
    assert moto_ext.applied() == before
    assert _replaced_now() == {(name, r.name) for name in before for r in moto_ext.PATCHES[name].build()}


def _replaced_now() -> set[tuple[str, str]]:
    """(patch, attribute) for every attribute a patch replaces that holds code of `moto_ext` now."""
    found = set()
    for patch in moto_ext.PATCHES.values():
        for replacement in patch.build():  # built only to name what the patch replaces
            owner, name = replacement.owner, replacement.name
            value = owner.get(name) if isinstance(owner, dict) else getattr(owner, name, None)
            if getattr(value, "__module__", "") == moto_ext.__name__:
                found.add((patch.name, name))
    return found


def test_an_unknown_patch_name_is_refused() -> None:
    with pytest.raises(KeyError, match="no such moto patch: fn_cider"), moto_ext.without("fn_cider"):
        pass


def test_the_pin_in_requirements_is_the_version_the_patches_were_checked_against() -> None:
    pins = re.findall(r"^moto(?:\[[^\]]*\])?==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pins == [moto_ext.MOTO_VERSION]


def test_install_refuses_a_moto_version_the_patches_were_not_checked_against(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_ext, "version", lambda package: "9.9.9")
    with pytest.raises(moto_ext.MotoVersionMismatch) as raised:
        moto_ext.install()
    message = str(raised.value)
    assert "moto 9.9.9 is installed" in message
    assert f"moto {moto_ext.MOTO_VERSION}" in message
    assert "pip install -r requirements.txt" in message
    assert "tests/functional/test_moto_ext.py" in message


def test_install_accepts_the_installed_moto() -> None:
    moto_ext.install()
    assert set(moto_ext.applied()) >= {p.name for p in moto_ext.PATCHES.values() if p.default}


# CodePipeline


def test_moto_lacks_codepipeline_job_results(mocked_aws: None) -> None:
    with moto_ext.without("codepipeline_job_results"), pytest.raises(NotImplementedError):
        client("codepipeline").put_job_success_result(jobId="job-1")


def test_patch_fills_codepipeline_job_results(mocked_aws: None) -> None:
    pipeline = client("codepipeline")
    pipeline.put_job_success_result(jobId="job-1", executionDetails={"summary": "done"})
    pipeline.put_job_failure_result(jobId="job-2", failureDetails={"type": "JobFailed", "message": "no"})
    with pytest.raises(ClientError, match="InvalidJobStateException"):
        pipeline.put_job_failure_result(jobId="job-1", failureDetails={"type": "JobFailed", "message": "late"})
    assert moto_ext.JOB_RESULTS == {
        "job-1": {"status": "Succeeded", "executionDetails": {"summary": "done"}},
        "job-2": {"status": "Failed", "failureDetails": {"type": "JobFailed", "message": "no"}}}


# Step Functions: a machine whose second state waits for a task token, sent through SNS to an SQS queue


def _callback_machine() -> tuple[str, str]:
    sqs, sns = client("sqs"), client("sns")
    queue = sqs.create_queue(QueueName="tokens")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="tokens")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    definition = {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Result": "ready", "ResultPath": "$.prepared", "Next": "Wait for approval"},
        "Wait for approval": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                              "Parameters": {"TopicArn": topic, "Message.$": "$$.Task.Token"}, "End": True}}}
    machine = client("stepfunctions").create_state_machine(
        name="callback", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/machine")["stateMachineArn"]
    return machine, queue


def _next_token(queue: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", [])
        if messages:
            return str(messages[0]["Body"])
        time.sleep(0.05)
    raise AssertionError("the machine published no task token")


def _ended(execution: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        described: dict[str, Any] = client("stepfunctions").describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"{execution} still runs")


def _failed_at_the_callback(name: str) -> tuple[str, str]:
    machine, queue = _callback_machine()
    stepfunctions = client("stepfunctions")
    execution = stepfunctions.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
    stepfunctions.send_task_failure(taskToken=_next_token(queue), error="Rejected", cause="not today")
    return execution, queue


def test_moto_lacks_send_task_failure_cause(mocked_aws: None) -> None:
    with moto_ext.without("send_task_failure_cause"):
        execution, _ = _failed_at_the_callback("lacks-cause")
        described = _ended(execution)
    assert (described["status"], described["error"]) == ("FAILED", "Rejected")
    assert "cause" not in described, _drop("send_task_failure_cause")


def test_patch_fills_send_task_failure_cause(mocked_aws: None) -> None:
    execution, _ = _failed_at_the_callback("fills-cause")
    described = _ended(execution)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Rejected", "not today")


def test_moto_lacks_redrive_execution(mocked_aws: None) -> None:
    execution, _ = _failed_at_the_callback("lacks-redrive")
    _ended(execution)
    with moto_ext.without("redrive_execution"), pytest.raises(NotImplementedError):
        client("stepfunctions").redrive_execution(executionArn=execution)


def test_patch_fills_redrive_execution(mocked_aws: None) -> None:
    stepfunctions = client("stepfunctions")
    execution, queue = _failed_at_the_callback("fills-redrive")
    _ended(execution)
    stepfunctions.redrive_execution(executionArn=execution)
    stepfunctions.send_task_success(taskToken=_next_token(queue), output=json.dumps({"approved": True}))
    assert _ended(execution)["status"] == "SUCCEEDED"
    events = stepfunctions.get_execution_history(executionArn=execution)["events"]
    entered = [e["stateEnteredEventDetails"] for e in events if e["type"].endswith("StateEntered")]
    assert [e["name"] for e in entered] == ["Prepare", "Wait for approval", "Wait for approval"]
    assert json.loads(entered[-1]["input"]) == {"prepared": "ready"}  # the input the state had when it failed
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    with pytest.raises(ClientError, match="ExecutionNotRedrivable"):
        stepfunctions.redrive_execution(executionArn=execution)


# CloudFormation


def _stack(name: str, body: dict[str, Any], **parameters: str) -> dict[str, Any]:
    cfn = client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body), Parameters=_parameters(parameters))
    return _described(name)


def _by_change_set(name: str, body: dict[str, Any], kind: str = "UPDATE", **parameters: str) -> dict[str, Any]:
    cfn = client("cloudformation")
    change_set = cfn.create_change_set(StackName=name, ChangeSetName="change", ChangeSetType=kind,
                                       TemplateBody=json.dumps(body), Parameters=_parameters(parameters))["Id"]
    cfn.execute_change_set(ChangeSetName=change_set, StackName=name)
    return _described(name)


def _parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def _described(name: str) -> dict[str, Any]:
    stack: dict[str, Any] = client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    return stack


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _physical_id(stack: str, logical: str) -> str:
    resource = client("cloudformation").describe_stack_resource(StackName=stack, LogicalResourceId=logical)
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


CIDR = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"Subnets": {"Value": {"Fn::Join": [",", {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}]}}}}


def test_moto_lacks_fn_cidr(mocked_aws: None) -> None:
    with moto_ext.without("fn_cidr"):
        outputs = _outputs(_stack("cidr", CIDR))
    assert outputs["Subnets"] != "10.0.0.0/24,10.0.1.0/24", _drop("fn_cidr")


def test_patch_fills_fn_cidr(mocked_aws: None) -> None:
    assert _outputs(_stack("cidr", CIDR)) == {"Subnets": "10.0.0.0/24,10.0.1.0/24"}


def _conditional(version: int) -> dict[str, Any]:
    return {"Parameters": {"ExtraWanted": {"Type": "String"}},
            "Conditions": {"WithExtra": {"Fn::Equals": [{"Ref": "ExtraWanted"}, "yes"]}},
            "Resources": {"Main": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"main-{version}"}},
                          "Extra": {"Type": "AWS::SNS::Topic", "Condition": "WithExtra",
                                    "Properties": {"TopicName": f"extra-{version}"}}}}


def _update_beside_a_false_condition() -> list[str]:
    _stack("conditional", _conditional(1), ExtraWanted="no")
    client("cloudformation").update_stack(StackName="conditional", TemplateBody=json.dumps(_conditional(2)),
                                          Parameters=_parameters({"ExtraWanted": "no"}))
    return sorted(t["TopicArn"].split(":")[-1] for t in client("sns").list_topics()["Topics"])


def test_moto_lacks_false_condition_left_alone(mocked_aws: None) -> None:
    with moto_ext.without("false_condition_left_alone"), pytest.raises(AttributeError) as raised:
        _update_beside_a_false_condition()
    assert "'NoneType' object" in str(raised.value), _drop("false_condition_left_alone")


def test_patch_fills_false_condition_left_alone(mocked_aws: None) -> None:
    assert _update_beside_a_false_condition() == ["main-2"]


def _redeploy_with_a_default_kept() -> str:
    """A stack whose parameter was left at its default, updated from its template in S3 (as deploy.py does)
    with that parameter as UsePreviousValue."""
    body = {"Parameters": {"Name": {"Type": "String"}, "Retention": {"Type": "String", "Default": "30"}},
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Name"}}}}}
    s3, cfn = client("s3"), client("cloudformation")
    s3.create_bucket(Bucket="templates")
    s3.put_object(Bucket="templates", Key="kept.json", Body=json.dumps(body).encode())
    url = "https://templates.s3.amazonaws.com/kept.json"
    created = cfn.create_change_set(StackName="kept", ChangeSetName="first", ChangeSetType="CREATE", TemplateURL=url,
                                    Parameters=[{"ParameterKey": "Name", "ParameterValue": "kept"}])["Id"]
    cfn.execute_change_set(ChangeSetName=created, StackName="kept")
    cfn.create_change_set(StackName="kept", ChangeSetName="again", ChangeSetType="UPDATE", TemplateURL=url,
                          Parameters=[{"ParameterKey": "Name", "ParameterValue": "kept"},
                                      {"ParameterKey": "Retention", "UsePreviousValue": True}])
    return str(cfn.describe_change_set(StackName="kept", ChangeSetName="again")["Status"])


def test_moto_lacks_unchanged_parameters_resolved(mocked_aws: None) -> None:
    with moto_ext.without("unchanged_parameters_resolved"):
        status = _redeploy_with_a_default_kept()
    assert status == "CREATE_COMPLETE", _drop("unchanged_parameters_resolved")  # planned as a change


def test_patch_fills_unchanged_parameters_resolved(mocked_aws: None) -> None:
    assert _redeploy_with_a_default_kept() == "FAILED"  # "didn't contain changes", as on AWS


def _redeploy_after_an_update() -> str:
    """Created with one value, updated by change set to another, then the same update planned again (from S3,
    as deploy.py plans it)."""
    body = {"Parameters": {"Name": {"Type": "String"}},
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Name"}}}}}
    s3, cfn = client("s3"), client("cloudformation")
    s3.create_bucket(Bucket="templates")
    s3.put_object(Bucket="templates", Key="updated.json", Body=json.dumps(body).encode())
    url = "https://templates.s3.amazonaws.com/updated.json"
    for name, kind, value in (("create", "CREATE", "first"), ("update", "UPDATE", "second")):
        made = cfn.create_change_set(StackName="updated", ChangeSetName=name, ChangeSetType=kind, TemplateURL=url,
                                     Parameters=_parameters({"Name": value}))["Id"]
        cfn.execute_change_set(ChangeSetName=made, StackName="updated")
    cfn.create_change_set(StackName="updated", ChangeSetName="again", ChangeSetType="UPDATE", TemplateURL=url,
                          Parameters=_parameters({"Name": "second"}))
    return str(cfn.describe_change_set(StackName="updated", ChangeSetName="again")["Status"])


def test_moto_lacks_unchanged_parameters_resolved_after_an_update(mocked_aws: None) -> None:
    with moto_ext.without("unchanged_parameters_resolved"):
        status = _redeploy_after_an_update()
    assert status == "CREATE_COMPLETE", _drop("unchanged_parameters_resolved")  # compared with "first"


def test_patch_fills_unchanged_parameters_resolved_after_an_update(mocked_aws: None) -> None:
    assert _redeploy_after_an_update() == "FAILED"


def _nested(parameter: str) -> dict[str, Any]:
    s3 = client("s3")
    if not s3.list_buckets()["Buckets"]:
        s3.create_bucket(Bucket="templates")
    child = {"Parameters": {"Name": {"Type": "String"}},
             "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Name"}}}},
             "Outputs": {"Topic": {"Value": {"Ref": "Topic"}}}}
    s3.put_object(Bucket="templates", Key="child.json", Body=json.dumps(child).encode())
    return {"Resources": {"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {
        "TemplateURL": "https://templates.s3.amazonaws.com/child.json", "Parameters": {"Name": parameter}}}},
        "Outputs": {"Topic": {"Value": {"Fn::GetAtt": ["Child", "Outputs.Topic"]}}}}


def test_moto_lacks_nested_stack_outputs(mocked_aws: None) -> None:
    with moto_ext.without("nested_stack_outputs"):
        outputs = _outputs(_stack("parent", _nested("first")))
    assert outputs == {}, _drop("nested_stack_outputs")  # silently dropped


def test_patch_fills_nested_stack_outputs(mocked_aws: None) -> None:
    assert _outputs(_stack("parent", _nested("first"))) == {"Topic": f"arn:aws:sns:{REGION}:123456789012:first"}


def _nested_stack_ids_across_an_update() -> tuple[str, str]:
    _stack("parent", _nested("first"))
    before = _physical_id("parent", "Child")
    client("cloudformation").update_stack(StackName="parent", TemplateBody=json.dumps(_nested("second")))
    return before, _physical_id("parent", "Child")


def test_moto_lacks_nested_stack_update_in_place(mocked_aws: None) -> None:
    with moto_ext.without("nested_stack_update_in_place"):
        before, after = _nested_stack_ids_across_an_update()
    assert before != after, _drop("nested_stack_update_in_place")


def test_patch_fills_nested_stack_update_in_place(mocked_aws: None) -> None:
    before, after = _nested_stack_ids_across_an_update()
    assert before == after
    assert _outputs(_described("parent")) == {"Topic": f"arn:aws:sns:{REGION}:123456789012:second"}


TWO_STACKS = {"Parameters": {"Image": {"Type": "String"}},
              "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Image"}}}}}


def _change_set_described_for_the_first_stack() -> str:
    cfn = client("cloudformation")
    for stack in ("one", "two"):
        _stack(stack, TWO_STACKS, Image=f"{stack}-v1")
        cfn.create_change_set(StackName=stack, ChangeSetName="deploy-1", TemplateBody=json.dumps(TWO_STACKS),
                              ChangeSetType="UPDATE", Parameters=_parameters({"Image": f"{stack}-v2"}))
    return str(cfn.describe_change_set(StackName="one", ChangeSetName="deploy-1")["StackName"])


def test_moto_lacks_change_set_names_per_stack(mocked_aws: None) -> None:
    with moto_ext.without("change_set_names_per_stack"):
        assert _change_set_described_for_the_first_stack() == "two", _drop("change_set_names_per_stack")


def test_patch_fills_change_set_names_per_stack(mocked_aws: None) -> None:
    assert _change_set_described_for_the_first_stack() == "one"
    cfn = client("cloudformation")
    cfn.execute_change_set(StackName="two", ChangeSetName="deploy-1")
    cfn.delete_change_set(StackName="one", ChangeSetName="deploy-1")
    assert _described("two")["Parameters"] == _parameters({"Image": "two-v2"})
    assert _described("one")["Parameters"] == _parameters({"Image": "one-v1"})


WITH_OUTPUT = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "out"}}},
               "Outputs": {"Topic": {"Value": {"Ref": "Topic"}}}}


def test_moto_lacks_change_set_outputs(mocked_aws: None) -> None:
    with moto_ext.without("change_set_outputs"):
        stack = _by_change_set("outputs", WITH_OUTPUT, kind="CREATE")
    assert "Outputs" not in stack, _drop("change_set_outputs")


def test_patch_fills_change_set_outputs(mocked_aws: None) -> None:
    stack = _by_change_set("outputs", WITH_OUTPUT, kind="CREATE")
    assert _outputs(stack) == {"Topic": f"arn:aws:sns:{REGION}:123456789012:out"}


# CloudFormation: ECS and ELBv2 resources


def _vpc() -> str:
    return str(client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"])


def _service_template(health_check_path: str = "/", tags: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {
        "Parameters": {"Image": {"Type": "String"}, "Vpc": {"Type": "String"}},
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "shop"}},
            "Group": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
                "Name": "shop-code1", "Port": 80, "Protocol": "HTTP", "TargetType": "ip", "VpcId": {"Ref": "Vpc"},
                "HealthCheckPath": health_check_path, "Tags": [{"Key": k, "Value": v} for k, v in tags]}},
            "Task": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
                "Family": "shop", "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"], "Cpu": "256",
                "Memory": "512", "ContainerDefinitions": [
                    {"Name": "app", "Image": {"Ref": "Image"}, "PortMappings": [{"ContainerPort": 80}]}]}},
            "Service": {"Type": "AWS::ECS::Service", "Properties": {
                "ServiceName": "shop-code1", "Cluster": {"Ref": "Cluster"}, "TaskDefinition": {"Ref": "Task"},
                "DesiredCount": 1, "LaunchType": "FARGATE",
                "LoadBalancers": [{"TargetGroupArn": {"Ref": "Group"}, "ContainerName": "app",
                                   "ContainerPort": 80}],
                "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": ["subnet-1"],
                                                                 "AssignPublicIp": "ENABLED"}}}}},
    }


def _service() -> dict[str, Any]:
    service: dict[str, Any] = client("ecs").describe_services(cluster="shop", services=["shop-code1"])["services"][0]
    return service


def _service_after_a_new_image(by: str = "change set") -> dict[str, Any]:
    """A service stack created, then given a new image by change set (deploy.py) or UpdateStack (the pipeline's
    CloudFormation action)."""
    vpc = _vpc()
    _by_change_set("service", _service_template(), kind="CREATE", Image="app:1", Vpc=vpc)
    if by == "change set":
        _by_change_set("service", _service_template(), Image="app:2", Vpc=vpc)
    else:
        client("cloudformation").update_stack(StackName="service", TemplateBody=json.dumps(_service_template()),
                                              Parameters=_parameters({"Image": "app:2", "Vpc": vpc}))
    return _service()


@pytest.mark.parametrize("by", ["change set", "UpdateStack"])
def test_moto_lacks_service_follows_task_definition(mocked_aws: None, by: str) -> None:
    with moto_ext.without("service_follows_task_definition"):
        service = _service_after_a_new_image(by)
    assert service["taskDefinition"].endswith(":1"), _drop("service_follows_task_definition")


@pytest.mark.parametrize("by", ["change set", "UpdateStack"])
def test_patch_fills_service_follows_task_definition(mocked_aws: None, by: str) -> None:
    assert _service_after_a_new_image(by)["taskDefinition"].endswith("task-definition/shop:2")


def _containers_after_a_new_image() -> list[dict[str, Any]]:
    task_definition = _service_after_a_new_image()["taskDefinition"]
    containers: list[dict[str, Any]] = client("ecs").describe_task_definition(
        taskDefinition=task_definition)["taskDefinition"]["containerDefinitions"]
    return containers


def test_moto_lacks_task_definition_update_keeps_containers(mocked_aws: None) -> None:
    with moto_ext.without("task_definition_update_keeps_containers"):
        containers = _containers_after_a_new_image()
    assert [(c.get("name"), c.get("image")) for c in containers] == [(None, None)], \
        _drop("task_definition_update_keeps_containers")  # only moto's defaults are left


def test_patch_fills_task_definition_update_keeps_containers(mocked_aws: None) -> None:
    containers = _containers_after_a_new_image()
    assert [(c["name"], c["image"], c["portMappings"][0]["containerPort"]) for c in containers] == [
        ("app", "app:2", 80)]


def test_moto_lacks_service_load_balancers(mocked_aws: None) -> None:
    with moto_ext.without("service_load_balancers"):
        _stack("service", _service_template(), Image="app:1", Vpc=_vpc())
        service = _service()
    dropped = {"loadBalancers": [], "launchType": "EC2", "networkConfiguration": {}}
    assert {key: service.get(key) for key in dropped} == dropped, _drop("service_load_balancers")


def test_patch_fills_service_load_balancers(mocked_aws: None) -> None:
    _stack("service", _service_template(), Image="app:1", Vpc=_vpc())
    service = _service()
    group = _physical_id("service", "Group")
    assert service["loadBalancers"] == [{"targetGroupArn": group, "containerName": "app", "containerPort": 80}]
    assert service["launchType"] == "FARGATE"
    assert service["networkConfiguration"] == {"awsvpcConfiguration": {
        "subnets": ["subnet-1"], "securityGroups": [], "assignPublicIp": "ENABLED"}}


def _target_group_tags(template: dict[str, Any]) -> dict[str, str]:
    _stack("service", template, Image="app:1", Vpc=_vpc())
    return _tags(_physical_id("service", "Group"))


def _tags(arn: str) -> dict[str, str]:
    described = client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
    return {t["Key"]: t["Value"] for t in described[0]["Tags"]} if described else {}


def test_moto_lacks_target_group_tags(mocked_aws: None) -> None:
    with moto_ext.without("target_group_tags"):
        tags = _target_group_tags(_service_template(tags=(("bluegreen:role", "code1"),)))
    assert tags == {}, _drop("target_group_tags")


def test_patch_fills_target_group_tags(mocked_aws: None) -> None:
    assert _target_group_tags(_service_template(tags=(("bluegreen:role", "code1"),))) == {"bluegreen:role": "code1"}


def _target_group_after_an_update() -> tuple[str | None, dict[str, str]]:
    vpc = _vpc()
    _stack("service", _service_template("/", (("bluegreen:role", "code1"), ("old", "x"))), Image="app:1", Vpc=vpc)
    group = _physical_id("service", "Group")
    client("cloudformation").update_stack(
        StackName="service", TemplateBody=json.dumps(_service_template("/health", (("bluegreen:role", "code2"),))),
        Parameters=_parameters({"Image": "app:1", "Vpc": vpc}))
    described = client("elbv2").describe_target_groups(TargetGroupArns=[group])["TargetGroups"][0]
    return described.get("HealthCheckPath"), _tags(group)


def test_moto_lacks_target_group_update(mocked_aws: None) -> None:
    with moto_ext.without("target_group_update"):
        path, tags = _target_group_after_an_update()
    assert (path, tags) == ("/", {"bluegreen:role": "code1", "old": "x"}), _drop("target_group_update")


def test_patch_fills_target_group_update(mocked_aws: None) -> None:
    path, tags = _target_group_after_an_update()
    assert (path, tags) == ("/health", {"bluegreen:role": "code2"})


# CloudFormation: state machines

MACHINE = {"Parameters": {"Greeting": {"Type": "String"}},
           "Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
               "StateMachineName": "release", "RoleArn": "arn:aws:iam::123456789012:role/machine",
               "Definition": {"StartAt": "Say", "States": {"Say": {"Type": "Pass", "End": True,
                                                                  "Result": {"greeting": "${Greeting}"}}}},
               "DefinitionSubstitutions": {"Greeting": {"Ref": "Greeting"}}}}}}


def test_moto_lacks_state_machine_resource(mocked_aws: None) -> None:
    with moto_ext.without("state_machine_resource"):
        _stack("machine", MACHINE, Greeting="hello")
        machines = client("stepfunctions").list_state_machines()["stateMachines"]
    assert machines == [], _drop("state_machine_resource")  # created where StartExecution does not look


def test_patch_fills_state_machine_resource(mocked_aws: None) -> None:
    _stack("machine", MACHINE, Greeting="hello")
    machine = _physical_id("machine", "Machine")
    execution = client("stepfunctions").start_execution(stateMachineArn=machine, name="greet")["executionArn"]
    assert json.loads(_ended(execution)["output"]) == {"greeting": "hello"}
    _by_change_set("machine", MACHINE, Greeting="bye")
    assert json.loads(client("stepfunctions").describe_state_machine(stateMachineArn=machine)["definition"])[
        "States"]["Say"]["Result"] == {"greeting": "bye"}
    client("cloudformation").delete_stack(StackName="machine")
    assert client("stepfunctions").list_state_machines()["stateMachines"] == []


# CloudFormation: pipelines and build projects (the shapes of cfn/pipeline.yaml)

KEY = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CONNECTION = f"arn:aws:codeconnections:{REGION}:123456789012:connection/0b1c2d3e-aaaa-bbbb-cccc-123456789012"


def _release_pipeline(buildspec: str, branch: str) -> dict[str, Any]:
    return {
        "Parameters": {"Port": {"Type": "Number", "Default": 8080}},
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                     "Action": "sts:AssumeRole",
                     "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}},
                    {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
                     "Action": "sts:AssumeRole"}]}}},
            "Artifacts": {"Type": "AWS::S3::Bucket"},
            "Project": {"Type": "AWS::CodeBuild::Project", "Properties": {
                "Name": "shop-build", "Description": "Builds the image.",
                "ServiceRole": {"Fn::GetAtt": ["Role", "Arn"]}, "EncryptionKey": KEY, "TimeoutInMinutes": 30,
                "Artifacts": {"Type": "CODEPIPELINE"},
                "Environment": {"Type": "LINUX_CONTAINER", "ComputeType": "BUILD_GENERAL1_SMALL",
                                "Image": "aws/codebuild/amazonlinux-x86_64-standard:5.0", "PrivilegedMode": True,
                                "EnvironmentVariables": [{"Name": "REPOSITORY_NAME", "Value": "shop"},
                                                         {"Name": "TEST_PORT", "Value": {"Ref": "Port"}}]},
                "LogsConfig": {"CloudWatchLogs": {"Status": "ENABLED", "GroupName": "/shop/codebuild",
                                                  "StreamName": "build"}},
                "Source": {"Type": "CODEPIPELINE", "BuildSpec": buildspec}}},
            "Pipeline": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {
                "Name": "shop-release", "PipelineType": "V2", "ExecutionMode": "QUEUED",
                "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "ArtifactStore": {"Type": "S3", "Location": {"Ref": "Artifacts"},
                                  "EncryptionKey": {"Id": KEY, "Type": "KMS"}},
                "Stages": [
                    {"Name": "Source", "Actions": [{
                        "Name": "Application", "ActionTypeId": {"Category": "Source", "Owner": "AWS",
                                                                "Provider": "CodeStarSourceConnection", "Version": "1"},
                        "Configuration": {"ConnectionArn": CONNECTION, "FullRepositoryId": "acme/shop",
                                          "BranchName": branch},
                        "OutputArtifacts": [{"Name": "Source"}]}]},
                    {"Name": "Build", "Actions": [{
                        "Name": "BuildAndPushImage", "RunOrder": 2,
                        "ActionTypeId": {"Category": "Build", "Owner": "AWS", "Provider": "CodeBuild", "Version": "1"},
                        "Configuration": {"ProjectName": {"Ref": "Project"}},
                        "InputArtifacts": [{"Name": "Source"}], "OutputArtifacts": [{"Name": "Build"}]}]}],
                "Triggers": [{"ProviderType": "CodeStarSourceConnection", "GitConfiguration": {
                    "SourceActionName": "Application", "Push": [{"Branches": {"Includes": [branch]}}]}}]}}},
        "Outputs": {"Pipeline": {"Value": {"Ref": "Pipeline"}}, "Project": {"Value": {"Ref": "Project"}},
                    "ProjectArn": {"Value": {"Fn::GetAtt": ["Project", "Arn"]}}},
    }


def _pipeline() -> dict[str, Any]:
    pipeline: dict[str, Any] = client("codepipeline").get_pipeline(name="shop-release")["pipeline"]
    return pipeline


def _project() -> dict[str, Any]:
    projects: list[dict[str, Any]] = client("codebuild").batch_get_projects(names=["shop-build"])["projects"]
    assert len(projects) == 1
    return projects[0]


def test_moto_lacks_pipeline_resources(mocked_aws: None) -> None:
    template = _release_pipeline("version: 0.2", "main")
    del template["Outputs"]  # moto fails on a GetAtt of a resource it skipped
    with moto_ext.without("pipeline_resources"):
        assert _stack("pipeline", template)["StackStatus"] == "CREATE_COMPLETE"
        projects = client("codebuild").batch_get_projects(names=["shop-build"])["projects"]
        pipelines = client("codepipeline").list_pipelines()["pipelines"]
    assert (projects, pipelines) == ([], []), _drop("pipeline_resources")  # skipped, nothing created


def test_patch_fills_pipeline_resources(mocked_aws: None) -> None:
    stack = _stack("pipeline", _release_pipeline("version: 0.2\nphases: {}\n", "main"))
    role, bucket = _physical_id("pipeline", "Role"), _physical_id("pipeline", "Artifacts")
    role_arn = client("iam").get_role(RoleName=role)["Role"]["Arn"]
    assert _outputs(stack) == {"Pipeline": "shop-release", "Project": "shop-build",
                               "ProjectArn": f"arn:aws:codebuild:{REGION}:123456789012:project/shop-build"}
    assert _pipeline() == {
        "name": "shop-release", "roleArn": role_arn, "version": 1, "pipelineType": "V2", "executionMode": "QUEUED",
        "artifactStore": {"type": "S3", "location": bucket, "encryptionKey": {"id": KEY, "type": "KMS"}},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Application", "runOrder": 1,
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection",
                                 "version": "1"},
                "configuration": {"ConnectionArn": CONNECTION, "FullRepositoryId": "acme/shop", "BranchName": "main"},
                "inputArtifacts": [], "outputArtifacts": [{"name": "Source"}]}]},
            {"name": "Build", "actions": [{
                "name": "BuildAndPushImage", "runOrder": 2,
                "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                "configuration": {"ProjectName": "shop-build"},
                "inputArtifacts": [{"name": "Source"}], "outputArtifacts": [{"name": "Build"}]}]}],
        "triggers": [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {
            "sourceActionName": "Application", "push": [{"branches": {"includes": ["main"]}}]}}]}
    project = _project()
    assert {key: project[key] for key in ("name", "arn", "description", "serviceRole", "encryptionKey",
                                          "timeoutInMinutes", "source", "artifacts", "environment", "logsConfig")} == {
        "name": "shop-build", "arn": f"arn:aws:codebuild:{REGION}:123456789012:project/shop-build",
        "description": "Builds the image.", "serviceRole": role_arn, "encryptionKey": KEY, "timeoutInMinutes": 30,
        "source": {"type": "CODEPIPELINE", "buildspec": "version: 0.2\nphases: {}\n"},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {"type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL",
                        "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0", "privilegedMode": True,
                        "environmentVariables": [{"name": "REPOSITORY_NAME", "value": "shop", "type": "PLAINTEXT"},
                                                 {"name": "TEST_PORT", "value": "8080", "type": "PLAINTEXT"}]},
        "logsConfig": {"cloudWatchLogs": {"status": "ENABLED", "groupName": "/shop/codebuild", "streamName": "build"}}}

    client("cloudformation").update_stack(StackName="pipeline", TemplateBody=json.dumps(
        _release_pipeline("version: 0.2\nphases: {build: {commands: [make]}}\n", "release")))
    assert _project()["source"]["buildspec"] == "version: 0.2\nphases: {build: {commands: [make]}}\n"
    pipeline = _pipeline()
    assert pipeline["version"] == 2
    assert pipeline["stages"][0]["actions"][0]["configuration"]["BranchName"] == "release"
    assert pipeline["triggers"][0]["gitConfiguration"]["push"] == [{"branches": {"includes": ["release"]}}]

    client("cloudformation").delete_stack(StackName="pipeline")
    assert client("codebuild").batch_get_projects(names=["shop-build"])["projects"] == []
    with pytest.raises(ClientError, match="PipelineNotFoundException"):
        _pipeline()


# ELBv2


def _target_state() -> dict[str, Any]:
    elbv2 = client("elbv2")
    group = elbv2.create_target_group(Name="code1", Protocol="HTTP", Port=80, VpcId=_vpc(),
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.0.1.10", "Port": 80}])
    moto_ext.set_target_health(group, "10.0.1.10", "unhealthy", "Target.Timeout", "Request timed out")
    state: dict[str, Any] = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"][0][
        "TargetHealth"]
    return state


def test_moto_lacks_target_health(mocked_aws: None) -> None:
    with moto_ext.without("target_health"):
        assert _target_state()["State"] == "healthy", _drop("target_health")


def test_patch_fills_target_health(mocked_aws: None) -> None:
    assert _target_state() == {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "Request timed out"}


def _load_balancer_dns_name() -> str:
    subnet = client("ec2").create_subnet(VpcId=_vpc(), CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    created = client("elbv2").create_load_balancer(Name="shop", Subnets=[subnet])["LoadBalancers"][0]
    return str(created["DNSName"])


def test_moto_lacks_loopback_load_balancers(mocked_aws: None) -> None:
    # Not a gap that moto could fill: only the sandbox answers on loopback. The patch is applied by the sandbox.
    assert "loopback_load_balancers" not in moto_ext.applied()
    assert _load_balancer_dns_name().endswith(".elb.amazonaws.com")


def test_patch_fills_loopback_load_balancers(mocked_aws: None) -> None:
    with moto_ext.including("loopback_load_balancers"):
        assert _load_balancer_dns_name() == moto_ext.LOOPBACK
    assert "loopback_load_balancers" not in moto_ext.applied()


# DynamoDB


def _both_conditional_puts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two writers race to create the same item; each is held between moto's read and its write until both
    have read (or, when writes are serialised, until the wait times out)."""
    from moto.dynamodb.models.table import Table

    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName="locks", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    both_read = threading.Barrier(2, timeout=0.5)
    get_item = Table.get_item

    def read_then_wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = get_item(self, *args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):  # the other writer waits for the lock meanwhile
            both_read.wait()
        return item

    monkeypatch.setattr(Table, "get_item", read_then_wait)
    outcomes: list[str] = []
    writers = [threading.Thread(target=_put_if_absent, args=(dynamodb, owner, outcomes)) for owner in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=10)
    return sorted(outcomes)


def _put_if_absent(dynamodb: Any, owner: str, outcomes: list[str]) -> None:
    try:
        dynamodb.put_item(TableName="locks", Item={"id": {"S": "release"}, "owner": {"S": owner}},
                          ConditionExpression="attribute_not_exists(id)")
        outcomes.append("written")
    except ClientError as error:
        outcomes.append(error.response["Error"]["Code"])


def test_moto_lacks_dynamodb_serialised_writes(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with moto_ext.without("dynamodb_serialised_writes"):
        assert _both_conditional_puts(monkeypatch) == ["written", "written"], _drop("dynamodb_serialised_writes")


def test_patch_fills_dynamodb_serialised_writes(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _both_conditional_puts(monkeypatch) == ["ConditionalCheckFailedException", "written"]


# IAM and S3: a TLS-only bucket policy, which each of the three patches is needed for


def _put_into_a_bucket_that_denies(secure_transport: str) -> str:
    """Put an object into a bucket whose policy denies every request whose aws:SecureTransport is the given
    value ("false": a TLS-only bucket, as deploy.py makes), and say what came back."""
    s3, bucket = client("s3"), f"denies-{secure_transport}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": secure_transport}}}]}))
    try:
        s3.put_object(Bucket=bucket, Key="code.zip", Body=b"zip")
    except ClientError as error:
        return "denied" if error.response["Error"]["Code"] in ("403", "AccessDenied") else str(error)
    return "written"


def _assert_a_tls_only_bucket_denies_without(patch: str) -> None:
    with moto_ext.without(patch):
        assert _put_into_a_bucket_that_denies("false") == "denied", _drop(patch)


def test_moto_lacks_iam_deny_condition(mocked_aws: None) -> None:
    _assert_a_tls_only_bucket_denies_without("iam_deny_condition")


def test_patch_fills_iam_deny_condition(mocked_aws: None) -> None:
    assert _put_into_a_bucket_that_denies("false") == "written"
    assert _put_into_a_bucket_that_denies("true") == "denied"  # a Deny whose condition is met still applies


def test_moto_lacks_iam_bool_condition(mocked_aws: None) -> None:
    _assert_a_tls_only_bucket_denies_without("iam_bool_condition")


def test_patch_fills_iam_bool_condition(mocked_aws: None) -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    policy = IAMPolicy(json.dumps({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                                                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    assert policy.is_action_permitted("s3:GetObject", incoming_condition_values={
        "aws:SecureTransport": "false"}) == PermissionResult.DENIED
    assert policy.is_action_permitted("s3:GetObject", incoming_condition_values={
        "aws:SecureTransport": "True"}) == PermissionResult.NEUTRAL  # AWS compares booleans case-insensitively


def test_moto_lacks_s3_secure_transport(mocked_aws: None) -> None:
    _assert_a_tls_only_bucket_denies_without("s3_secure_transport")


def test_patch_fills_s3_secure_transport(mocked_aws: None) -> None:
    assert _put_into_a_bucket_that_denies("false") == "written"
    assert client("s3").get_object(Bucket="denies-false", Key="code.zip")["Body"].read() == b"zip"
    assert _put_into_a_bucket_that_denies("true") == "denied"


# ECS: stopped tasks listed per service


def _stopped_tasks_of_two_services() -> tuple[list[str], dict[str, Any]]:
    ecs = client("ecs")
    ecs.create_cluster(clusterName="shop")
    definition = ecs.register_task_definition(family="app", containerDefinitions=[
        {"name": "app", "image": "app:1", "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    for name in ("shop-code1", "shop-code2"):
        ecs.create_service(cluster="shop", serviceName=name, taskDefinition=definition, desiredCount=0)
    from moto.ecs.models import ecs_backends

    backend = ecs_backends["123456789012"][REGION]
    cluster, task_definition = backend._get_cluster("shop"), backend.describe_task_definition(definition)
    for name, reason in (("shop-code1", "Task failed ELB health checks in (target-group tg)"),
                         ("shop-code2", "Essential container in task exited (exit code 3)")):
        service = backend.services[f"shop:{name}"]
        moto_ext.stopped_task(backend, cluster, task_definition, service, reason, 3)
    listed = ecs.list_tasks(cluster="shop", serviceName="shop-code1", desiredStatus="STOPPED")["taskArns"]
    described = ecs.describe_tasks(cluster="shop", tasks=listed)["tasks"] if listed else []
    return listed, described[0] if described else {}


def test_moto_lacks_list_tasks_by_service(mocked_aws: None) -> None:
    with moto_ext.without("list_tasks_by_service"):
        listed, _ = _stopped_tasks_of_two_services()
    assert len(listed) == 2, _drop("list_tasks_by_service")


def test_patch_fills_list_tasks_by_service(mocked_aws: None) -> None:
    listed, described = _stopped_tasks_of_two_services()
    assert len(listed) == 1
    assert described["lastStatus"] == "STOPPED" and described["group"] == "service:shop-code1"
    assert described["stoppedReason"] == "Task failed ELB health checks in (target-group tg)"
    assert described["containers"][0]["exitCode"] == 3


# CloudWatch: percentile statistics


def _p90_of_one_to_a_hundred() -> list[float]:
    cloudwatch = client("cloudwatch")
    dimensions = [{"Name": "TargetGroup", "Value": "targetgroup/shop-code1/1"}]
    cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": "TargetResponseTime", "Dimensions": dimensions, "Values": [float(v) for v in range(1, 101)]}])
    now = time.time()
    answer = cloudwatch.get_metric_data(
        StartTime=now - 60, EndTime=now + 60, MetricDataQueries=[{"Id": "p", "MetricStat": {"Metric": {
            "Namespace": "AWS/ApplicationELB", "MetricName": "TargetResponseTime", "Dimensions": dimensions},
            "Period": 300, "Stat": "p90"}}])
    return [v for result in answer["MetricDataResults"] for v in result["Values"] if v is not None]


def test_moto_lacks_metric_percentiles(mocked_aws: None) -> None:
    values: list[float] = []
    with moto_ext.without("metric_percentiles"), contextlib.suppress(TypeError):  # moto fails to serialise None
        values = _p90_of_one_to_a_hundred()
    assert values == [], _drop("metric_percentiles")


def test_patch_fills_metric_percentiles(mocked_aws: None) -> None:
    assert _p90_of_one_to_a_hundred() == [90.0]


SUBSCRIBED = {"Resources": {
    "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "approvals"}},
    "Ada": {"Type": "AWS::SNS::Subscription", "Properties": {
        "TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": "ada@example.com",
        "FilterPolicy": {"approver": ["ada@example.com"]}}}},
    "Outputs": {"Subscription": {"Value": {"Ref": "Ada"}}}}


def _subscriptions() -> list[dict[str, Any]]:
    sns = client("sns")
    topic = f"arn:aws:sns:{REGION}:123456789012:approvals"
    return [{**s, **sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]}
            for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]]


def test_moto_lacks_sns_subscriptions(mocked_aws: None) -> None:
    template = {**SUBSCRIBED, "Outputs": {}}  # moto fails on a Ref of a resource it skipped
    with moto_ext.without("sns_subscriptions"):
        assert _stack("topic", template)["StackStatus"] == "CREATE_COMPLETE"
        assert _subscriptions() == [], _drop("sns_subscriptions")  # skipped: nobody subscribed


def test_patch_fills_sns_subscriptions(mocked_aws: None) -> None:
    stack = _stack("topic", SUBSCRIBED)
    [subscription] = _subscriptions()
    assert (subscription["Endpoint"], subscription["Protocol"]) == ("ada@example.com", "email")
    assert json.loads(subscription["FilterPolicy"]) == {"approver": ["ada@example.com"]}
    assert _outputs(stack) == {"Subscription": subscription["SubscriptionArn"]}
    client("cloudformation").delete_stack(StackName="topic")
    assert client("sns").list_subscriptions()["Subscriptions"] == []
