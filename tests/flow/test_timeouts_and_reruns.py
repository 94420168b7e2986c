"""Handlers that time out, and releases run again: the engine's steps are safe to repeat.

A Lambda that times out may have done all of its work before its answer was lost; Step Functions
then runs it again (Retry on Sandbox.Timedout / Lambda.Unknown). A release can also be run again as a
whole (CodePipeline's Retry, or the same input started again), and a step can be re-driven with the
input it had. Each scenario checks where production points, the tags, the lock, the pipeline's job
result and what the operators were told.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaFunction

from sandbox import lambda_runtime, moto_ext
from tests.support.approve import approval_link, decide
from tests.support.world import World

pytestmark = pytest.mark.flow


@pytest.fixture
def time_out() -> Iterator[Any]:
    """Arm a function to time out on its next `times` invocations, after doing its work or before."""
    invoke = LambdaFunction._invoke_lambda
    armed: dict[str, dict[str, Any]] = {}

    def add(function: str, times: int, after_work: bool) -> dict[str, Any]:
        armed[f"shop-{function}"] = rule = {"remaining": times, "afterWork": after_work, "timedOut": 0}
        return rule

    def invoke_or_time_out(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        rule = armed.get(self.function_name)
        if rule and rule["remaining"] > 0:
            rule["remaining"] -= 1
            rule["timedOut"] += 1
            if rule["afterWork"]:
                invoke(self, event)  # its work is done; the answer never reaches Step Functions
            return lambda_runtime.timed_out(self), True, ""
        result: tuple[str, bool, str] = invoke(self, event)
        return result

    LambdaFunction._invoke_lambda = invoke_or_time_out  # type: ignore[method-assign]
    yield add
    LambdaFunction._invoke_lambda = invoke  # type: ignore[method-assign]


def approve(world: World, execution: str) -> dict[str, Any]:
    _, approval_id = approval_link(world)
    assert decide(world, approval_id, "approve")["statusCode"] == 200
    return world.wait(execution, timeout=90)


def assert_released(world: World, described: dict[str, Any], job: str) -> None:
    assert described["status"] == "SUCCEEDED", described
    assert world.listener_target(80) == world.ids["Code2"] and world.listener_target(8080) == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}
    assert world.client("dynamodb").scan(TableName=world.ids["locks"])["Items"] == []
    assert moto_ext.JOB_RESULTS[job]["status"] == "Succeeded"


def assert_unchanged(world: World) -> None:
    assert world.listener_target(80) == world.ids["Code1"] and world.listener_target(8080) == world.ids["Code2"]
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}
    assert world.client("dynamodb").scan(TableName=world.ids["locks"])["Items"] == []


@pytest.mark.parametrize("function", ["discover", "lock", "check-health", "swap-traffic", "notify"])
def test_a_handler_that_times_out_after_doing_its_work_is_run_again_safely(world: World, time_out: Any,
                                                                           function: str) -> None:
    job = str(uuid.uuid4())
    rule = time_out(function, times=1, after_work=True)
    described = approve(world, world.start(world.request(codePipelineJobId=job)))
    assert rule["timedOut"] == 1
    assert_released(world, described, job)
    outcome = json.loads(described["output"])["outcome"]
    assert outcome["status"] == "SUCCEEDED"
    if function == "swap-traffic":  # the second run found both listeners moved and changed none
        assert outcome["report"]["swap"]["decision"] == "already-done"
    notifications = [m["Subject"] for m in world.messages("notifications")]
    # at least once: a notify that timed out after publishing publishes again
    assert notifications == ["Release succeeded: shop-code2 (shop-web:2.0.0)"] * (2 if function == "notify" else 1)


def test_a_swap_that_keeps_timing_out_changes_nothing_and_says_so(world: World, time_out: Any) -> None:
    job = str(uuid.uuid4())
    rule = time_out("swap-traffic", times=3, after_work=False)
    described = approve(world, world.start(world.request(codePipelineJobId=job)))
    assert rule["timedOut"] == 3  # the first run and both retries
    assert described["status"] == "FAILED" and described["error"] == "Sandbox.Timedout"
    assert "timed out after 60 seconds. The production listener now forwards to shop-code1" in described["cause"]
    assert_unchanged(world)
    assert moto_ext.JOB_RESULTS[job]["status"] == "Failed"
    assert [m["Subject"] for m in world.messages("notifications")] == [
        "Release failed (Sandbox.Timedout): shop-code2 (shop-web:2.0.0)"]


def test_a_health_check_that_keeps_timing_out_fails_before_approval(world: World, time_out: Any) -> None:
    time_out("check-health", times=3, after_work=True)
    described = world.wait(world.start(world.request()), timeout=60)
    assert described["status"] == "FAILED" and described["error"] == "Sandbox.Timedout"
    assert world.messages("approvals") == []  # nobody was asked to approve
    assert_unchanged(world)


def test_running_a_finished_release_again_is_refused_and_changes_nothing(world: World) -> None:
    """CodePipeline's Retry, or the same input started again: green now runs the old version."""
    request = world.request(expectedImage="shop-web:2.0.0")
    first = approve(world, world.start(request))
    assert first["status"] == "SUCCEEDED"
    world.messages("notifications")
    again = world.wait(world.start(request))
    assert again["status"] == "FAILED" and again["error"] == "UnexpectedGreenImage"
    assert "not the expected image shop-web:2.0.0" in again["cause"] and "Production is unchanged" in again["cause"]
    assert world.listener_target(80) == world.ids["Code2"] and world.listener_target(8080) == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}
    assert world.client("dynamodb").scan(TableName=world.ids["locks"])["Items"] == []


def test_a_release_that_failed_at_the_swap_completes_when_run_again(world: World, time_out: Any) -> None:
    time_out("swap-traffic", times=3, after_work=False)
    request = world.request(expectedImage="shop-web:2.0.0")
    assert approve(world, world.start(request))["status"] == "FAILED"
    assert_unchanged(world)
    job = str(uuid.uuid4())
    assert_released(world, approve(world, world.start({**request, "codePipelineJobId": job})), job)


def test_redriving_a_failed_release_fails_again_at_its_end_and_changes_nothing(world: World) -> None:
    """Every failure is caught and noted, so a failed execution ends in a Fail state; RedriveExecution
    continues from there and fails again with the same error. To try again, start a new release."""
    moto_ext.set_target_health(world.ids["Code2"], "10.0.2.11", "unhealthy", "Target.ResponseCodeMismatch")
    sfn = world.client("stepfunctions")
    execution = world.start(world.request(health={"deadlineSeconds": 1, "pollIntervalSeconds": 1,
                                                  "maxPollIntervalSeconds": 1}))
    first = world.wait(execution)
    assert first["status"] == "FAILED" and first["error"] == "GreenUnhealthy"
    assert len(world.messages("notifications")) == 1
    moto_ext.set_target_health(world.ids["Code2"], "10.0.2.11", "healthy")  # too late: redrive does not re-check
    sfn.redrive_execution(executionArn=execution)
    again = world.wait(execution)
    assert (again["status"], again["error"], again["cause"]) == ("FAILED", "GreenUnhealthy", first["cause"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in sfn.get_execution_history(
        executionArn=execution)["events"] if e["type"].endswith("StateEntered")]
    assert entered[0] == "Discover the topology" and entered[-2:] == ["Release failed", "Release failed"]
    assert world.messages("notifications") == [] and world.messages("approvals") == []
    assert_unchanged(world)


def test_a_successful_release_cannot_be_redriven(world: World) -> None:
    execution = world.start(world.request())
    assert approve(world, execution)["status"] == "SUCCEEDED"
    with pytest.raises(ClientError, match="ExecutionNotRedrivable"):
        world.client("stepfunctions").redrive_execution(executionArn=execution)


def test_the_swap_step_run_again_with_its_recorded_input_changes_nothing_more(world: World) -> None:
    """What a redrive of the swap step would do: run it again with the input it had, after it worked."""
    execution = world.start(world.request())
    assert approve(world, execution)["status"] == "SUCCEEDED"
    history = world.client("stepfunctions").get_execution_history(executionArn=execution)["events"]
    entered = [e["stateEnteredEventDetails"] for e in history if e["type"] == "TaskStateEntered"]
    swap_input = json.loads(next(e["input"] for e in entered if e["name"] == "Swap traffic"))
    answer = world.client("lambda").invoke(FunctionName=world.ids["swap_traffic"],
                                           Payload=json.dumps({"topology": swap_input["topology"]}).encode())
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    assert result["decision"] == "already-done"
    assert world.listener_target(80) == world.ids["Code2"] and world.listener_target(8080) == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}
