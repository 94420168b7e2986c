"""The sandbox's CloudFormation behaves as AWS's where `deploy.py` depends on it."""

from __future__ import annotations

import json

import boto3

TEMPLATE = json.dumps({
    "Parameters": {"Image": {"Type": "String"}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Image"}}}},
})


def test_change_sets_of_the_same_name_in_two_stacks_stay_apart(mocked: None) -> None:
    """Two systems deployed in the same second create change sets of the same name; each stack must
    execute its own (AWS scopes change set names to the stack)."""
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    for stack in ("one", "two"):
        cfn.create_stack(StackName=stack, TemplateBody=TEMPLATE, Parameters=[{"ParameterKey": "Image",
                                                                              "ParameterValue": f"{stack}-v1"}])
    for stack in ("one", "two"):
        cfn.create_change_set(StackName=stack, ChangeSetName="deploy-1", TemplateBody=TEMPLATE, ChangeSetType="UPDATE",
                              Parameters=[{"ParameterKey": "Image", "ParameterValue": f"{stack}-v2"}])
    described = cfn.describe_change_set(StackName="two", ChangeSetName="deploy-1")
    assert described["StackName"] == "two"
    cfn.execute_change_set(StackName="two", ChangeSetName="deploy-1")
    cfn.execute_change_set(StackName="one", ChangeSetName="deploy-1")
    for stack in ("one", "two"):
        parameters = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Parameters"]
        assert parameters == [{"ParameterKey": "Image", "ParameterValue": f"{stack}-v2"}]
    cfn.delete_change_set(StackName="one", ChangeSetName="deploy-1")
    assert cfn.describe_change_set(StackName="two", ChangeSetName="deploy-1")["StackName"] == "two"
