"""The state machine definition: valid ASL, error names that exist, safe retry and wait settings."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from statelint.linter import Linter

from deployer import definition
from release import exceptions

ROOT = Path(__file__).resolve().parents[2]
ASL_FILES = sorted((ROOT / "statemachines").glob("*.asl.json"))
ERROR_CLASSES = {name for name, value in inspect.getmembers(exceptions, inspect.isclass)
                 if issubclass(value, Exception)}
TRANSIENT_LAMBDA = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException"}
# How Step Functions reports a function Lambda cannot run yet: in a VPC, after weeks idle, until its network
# interface is back (the check-health function joins the VPC for its HTTP probe)
NOT_READY = {"Lambda.ResourceNotReadyException", "Lambda.ENINotReadyException"}
# How Step Functions reports a handler that ran out of time (Lambda.Unknown also covers running out of memory)
HANDLER_TIMED_OUT = {"Sandbox.Timedout", "Lambda.Unknown"}


def states(asl: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in asl["States"].items():
        yield name, state
        for branch in state.get("Branches", []) + ([state["Iterator"]] if "Iterator" in state else []):
            yield from states(branch)


@pytest.fixture(params=ASL_FILES, ids=lambda p: p.name)
def asl(request: pytest.FixtureRequest) -> dict[str, Any]:
    return definition.load(request.param)


def test_there_is_a_definition() -> None:
    assert ASL_FILES


def test_statelint_finds_no_problem(asl: dict[str, Any]) -> None:
    """statelint wants URIs where the file has ${placeholders}: lint what Step Functions receives."""
    fake_arns = {module: f"arn:aws:lambda:us-east-1:123456789012:function:{module}"
                 for module in definition.FUNCTIONS.values()}
    rendered = json.loads(definition.render(json.dumps(asl), definition.substitutions(fake_arns)))
    assert Linter.validate(rendered) == []


def test_every_error_name_is_an_exception_class_or_a_service_error(asl: dict[str, Any]) -> None:
    for name, state in states(asl):
        names = [n for rule in state.get("Retry", []) + state.get("Catch", []) for n in rule["ErrorEquals"]]
        if state["Type"] == "Fail" and "Error" in state:
            names.append(state["Error"])
        for error in names:
            assert error.startswith(("States.", "Lambda.")) or error in ERROR_CLASSES | HANDLER_TIMED_OUT, \
                f"{name}: {error}"


def test_domain_errors_are_never_retried(asl: dict[str, Any]) -> None:
    for name, state in states(asl):
        for rule in state.get("Retry", []):
            retried = TRANSIENT_LAMBDA | NOT_READY | HANDLER_TIMED_OUT | {"AwsTransientError"}
            assert set(rule["ErrorEquals"]) <= retried, name
            assert rule["BackoffRate"] > 1 and rule["MaxAttempts"] <= 6, name


def test_the_vpc_function_is_waited_for_while_its_network_interface_comes_back(asl: dict[str, Any]) -> None:
    [check] = [state for _, state in states(asl) if state.get("Parameters", {}).get("FunctionName") ==
               "${CheckHealthFunctionArn}"]
    [rule] = [r for r in check["Retry"] if set(r["ErrorEquals"]) & NOT_READY]
    assert set(rule["ErrorEquals"]) == NOT_READY
    waits = [min(rule["IntervalSeconds"] * rule["BackoffRate"] ** n, rule["MaxDelaySeconds"])
             for n in range(rule["MaxAttempts"])]
    assert sum(waits) >= 240  # Lambda takes minutes to restore the interface


def test_a_handler_that_timed_out_is_run_again_a_little(asl: dict[str, Any]) -> None:
    """Every handler is safe to run again (compare-and-set, conditional writes, reads), so a timeout is
    retried; but a handler that keeps timing out is stuck, and waiting longer will not help. A hook is the team's
    function, not the engine's: a hook that times out has failed, and is not called again behind its back."""
    for name, state in states(asl):
        if state["Type"] == "Task" and "FunctionName.$" not in state["Parameters"]:
            rules = [r for r in state["Retry"] if set(r["ErrorEquals"]) & HANDLER_TIMED_OUT]
            assert len(rules) == 1 and set(rules[0]["ErrorEquals"]) == HANDLER_TIMED_OUT, name
            assert rules[0]["MaxAttempts"] <= 2, name


def test_every_task_is_caught_and_every_failure_reaches_notify(asl: dict[str, Any]) -> None:
    for name, state in states(asl):
        if state["Type"] == "Task":
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name
    notify, rollback = "Notify the operators", "Roll traffic back"
    all_states = asl["States"]
    # after the rollback, the on-rollback hook if any, then notify; its Catch goes to a failure note, checked below
    after_rollback = all_states[all_states[rollback]["Next"]]
    assert after_rollback["Default"] == notify and all_states[after_rollback["Choices"][0]["Next"]]["Type"] == "Pass"
    for name, state in all_states.items():
        if state["Type"] == "Pass" and "failedStep" in state.get("ResultPath", ""):
            following = all_states[state["Next"]]
            if following["Type"] == "Choice":  # a failure may first send traffic back to blue
                targets = {c["Next"] for c in following["Choices"]} | {following["Default"]}
                assert targets <= {notify, rollback}, name
            else:
                assert state["Next"] == notify, name


def test_callback_tasks_time_out_and_keep_their_input(asl: dict[str, Any]) -> None:
    for name, state in states(asl):
        if state.get("Resource", "").endswith(".waitForTaskToken"):
            assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name
            assert state["ResultPath"].startswith("$."), name
            caught = {e for c in state["Catch"] for e in c["ErrorEquals"]}
            assert caught & {"States.Timeout", "States.ALL"}, name


def test_placeholders_are_exactly_the_functions_and_the_partition() -> None:
    text = definition.RELEASE_ASL.read_text()
    assert definition.placeholders(text) == set(definition.FUNCTIONS) | set(definition.INTEGRATIONS)
    assert "arn:aws:" not in text  # partition-aware: no hard-coded ARNs


def test_readme_diagram_shows_every_state() -> None:
    readme = (ROOT / "README.md").read_text()
    diagram = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert diagram, "README.md has no mermaid diagram"
    for path in ASL_FILES:
        for name, _ in states(definition.load(path)):
            assert name in diagram.group(1), f"state {name!r} is missing from the README diagram"
