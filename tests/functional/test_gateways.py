"""AWS errors become the engine's errors where they arise: never guessed, always named."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from release import exceptions as e
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.gateways.pipeline import Pipeline
from release.gateways.workflow import Workflow


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


@pytest.mark.parametrize(("code", "status", "error", "words"), [
    ("AccessDenied", 403, e.AwsCallFailed, "Check that the function's IAM role allows"),
    ("Throttling", 400, e.AwsTransientError, "Throttling after retries"),
    ("InternalFailure", 500, e.AwsTransientError, "InternalFailure"),
    ("LoadBalancerNotFound", 400, e.LoadBalancerNotFound, "was not found"),
])
def test_discovery_errors_are_named_never_taken_for_a_first_deployment(code: str, status: int,
                                                                      error: type[Exception], words: str) -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_client_error("describe_load_balancers", service_error_code=code, http_status_code=status)
    with pytest.raises(error, match=words):
        LoadBalancing(client).load_balancer("shop-alb")


def test_missing_listener_names_the_ports_that_exist() -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_response("describe_listeners", {"Listeners": [
        {"ListenerArn": "arn:l/80", "Port": 80, "Protocol": "HTTP", "DefaultActions": []}]})
    with pytest.raises(e.ListenerNotFound, match="no test listener on port 8080 \\(listeners: 80\\)"):
        LoadBalancing(client).listener("arn:lb", 8080, "test")


def test_unknown_cluster_is_named() -> None:
    client, stubber = stubbed("ecs")
    stubber.add_client_error("list_services", service_error_code="ClusterNotFoundException")
    with pytest.raises(e.ServiceNotFound, match="cluster 'nope' was not found"):
        Containers(client).services_in("nope")


def test_codepipeline_job_already_reported_is_not_an_error() -> None:
    client, stubber = stubbed("codepipeline")
    stubber.add_client_error("put_job_success_result", service_error_code="InvalidJobStateException")
    assert Pipeline(client).succeed("00000000-0000-0000-0000-000000000000", "done") is False


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_decision_for_an_execution_that_stopped_waiting_is_reported_as_such(code: str) -> None:
    client, stubber = stubbed("stepfunctions")
    stubber.add_client_error("send_task_success", service_error_code=code)
    with pytest.raises(e.ApprovalNoLongerPending):
        Workflow(client).send_success("token", {})
