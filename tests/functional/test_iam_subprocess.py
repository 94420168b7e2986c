"""The sandbox's Lambda runtimes (warm environments, a fresh interpreter per invocation) authorize calls as the
function's role.

The function is given an AWS endpoint where nothing listens: a call its role allows is sent and fails to
connect, a call its role refuses fails with the service's access-denied error before anything is sent.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import lambda_backends

from sandbox import lambda_runtime

LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
HANDLER = f'''
import boto3
def handler(event, context):
    boto3.client("elbv2").modify_listener(ListenerArn="{LISTENER}", Port=80)
'''
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]}


@pytest.fixture(params=sorted(lambda_runtime.RUNTIMES))
def runtime(request: pytest.FixtureRequest) -> Iterator[str]:
    with mock_aws():
        yield request.param
    lambda_runtime.reset()


def invoke_with(runtime: str, actions: list[str]) -> dict[str, str]:
    iam, lam = boto3.client("iam", region_name="us-east-1"), boto3.client("lambda", region_name="us-east-1")
    role = iam.create_role(RoleName="swap", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName="swap", PolicyName="swap", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": LISTENER}]}))
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("swap.py", HANDLER)
    lam.create_function(FunctionName="swap", Runtime="python3.12", Role=role, Handler="swap.handler",
                        Code={"ZipFile": package.getvalue()}, Timeout=30,
                        Environment={"Variables": {"AWS_MAX_ATTEMPTS": "1"}})  # one try at the dead endpoint
    function = lambda_backends["123456789012"]["us-east-1"].get_function("swap")
    payload, errored, _ = lambda_runtime.RUNTIMES[runtime](function, {}, "http://127.0.0.1:9")
    assert errored
    return dict(json.loads(payload))


def test_a_call_the_role_refuses_fails_with_access_denied_before_it_is_sent(runtime: str) -> None:
    error = invoke_with(runtime, ["elasticloadbalancing:DescribeListeners"])
    assert "AccessDenied" in error["errorMessage"]
    assert (f"assumed-role/swap/swap is not authorized to perform: elasticloadbalancing:ModifyListener "
            f"on resource: {LISTENER}") in error["errorMessage"]


def test_a_call_the_role_allows_is_sent(runtime: str) -> None:
    error = invoke_with(runtime, ["elasticloadbalancing:ModifyListener"])
    assert error["errorType"] == "EndpointConnectionError", error


def test_a_policy_changed_between_invocations_applies_to_a_warm_environment() -> None:
    with mock_aws():
        try:
            assert "AccessDenied" in invoke_with("warm", ["elasticloadbalancing:DescribeListeners"])["errorMessage"]
            boto3.client("iam", region_name="us-east-1").put_role_policy(
                RoleName="swap", PolicyName="swap", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "elasticloadbalancing:ModifyListener", "Resource": LISTENER}]}))
            function = lambda_backends["123456789012"]["us-east-1"].get_function("swap")
            payload, errored, _ = lambda_runtime._run_warm(function, {}, "http://127.0.0.1:9")
            assert errored and json.loads(payload)["errorType"] == "EndpointConnectionError"
            assert lambda_runtime.INVOCATIONS[-1]["cold"] is False  # the same environment, the new policy
        finally:
            lambda_runtime.reset()
