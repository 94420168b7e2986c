"""Throttling and server errors injected into every AWS service the engine calls: releases still finish.

Each fault is raised from botocore's `before-call` hook on the engine's own clients, so the handler sees
exactly what it would after the SDK's retries gave up; the state machine's Retry must then do the rest
without ever leaving production half-swapped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from release import aws
from sandbox import moto_ext
from tests.support.approve import approval_link, decide
from tests.support.world import World

pytestmark = pytest.mark.flow


@pytest.fixture
def inject() -> Iterator[Any]:
    registered: list[tuple[Any, str, Any]] = []

    def add(service: str, operation: str, code: str, times: int) -> dict[str, int]:
        client = aws.client(service)
        count = {"raised": 0}

        def fail(**_: Any) -> None:
            if count["raised"] < times:
                count["raised"] += 1
                status = 503 if code == "ServiceUnavailable" else 400
                response: Any = {"Error": {"Code": code, "Message": "injected"},
                                 "ResponseMetadata": {"HTTPStatusCode": status}}
                raise ClientError(response, operation)

        event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        client.meta.events.register(event, fail)
        registered.append((client, event, fail))
        return count

    yield add
    for client, event, handler in registered:
        client.meta.events.unregister(event, handler)


@pytest.mark.parametrize(("service", "operation", "code"), [
    ("elbv2", "DescribeListeners", "Throttling"),
    ("elbv2", "ModifyListener", "ServiceUnavailable"),
    ("elbv2", "AddTags", "Throttling"),
    ("ecs", "DescribeServices", "ThrottlingException"),
    ("dynamodb", "PutItem", "ProvisionedThroughputExceededException"),
    ("dynamodb", "UpdateItem", "InternalServerError"),
    ("sns", "Publish", "Throttling"),
    ("codepipeline", "PutJobSuccessResult", "ThrottlingException"),
    ("stepfunctions", "DescribeExecution", "ThrottlingException"),
])
def test_a_release_survives_transient_errors(world: World, inject: Any, service: str, operation: str,
                                             code: str) -> None:
    job = str(uuid.uuid4())
    if operation == "DescribeExecution":  # only asked when a lock is held by another execution
        stale = world.wait(world.start(world.request(loadBalancer="no-such-alb")))["executionArn"]
        world.client("dynamodb").put_item(TableName=world.ids["locks"], Item={
            "lockKey": {"S": world.ids["lb"]}, "executionArn": {"S": stale}, "acquiredAt": {"N": "0"}})
    aws.client(service)  # the engine's cached client, which the handlers use in process
    count = inject(service, operation, code, times=2)
    execution = world.start(world.request(codePipelineJobId=job))
    _, approval_id = approval_link(world)
    answer = decide(world, approval_id, "approve")
    while answer["statusCode"] == 503:  # "please try again": an approver presses the button again
        assert "try again" in answer["body"].lower()
        answer = decide(world, approval_id, "approve")
    assert answer["statusCode"] == 200
    described = world.wait(execution, timeout=120)
    assert described["status"] == "SUCCEEDED", described
    assert count["raised"] == 2, f"{service}:{operation} was never called with the fault armed"
    assert world.listener_target(80) == world.ids["Code2"] and world.listener_target(8080) == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}
    assert world.client("dynamodb").scan(TableName=world.ids["locks"])["Items"] == []
    assert moto_ext.JOB_RESULTS[job]["status"] == "Succeeded"
    assert json.loads(described["output"])["outcome"]["status"] == "SUCCEEDED"


def test_a_decision_that_cannot_be_claimed_now_can_be_retried(world: World, inject: Any) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    inject("dynamodb", "UpdateItem", "InternalServerError", times=1)
    first = decide(world, approval_id, "approve")
    assert first["statusCode"] == 503 and "link still works" in first["body"]
    assert world.production_target() == world.ids["Code1"]
    assert decide(world, approval_id, "approve")["statusCode"] == 200
    assert world.wait(execution)["status"] == "SUCCEEDED"
