"""Every fact that lives in more than one place says what `release.defaults` says: one fact, one test.

The templates are read as the packager reads them (merge keys resolved) and, where CloudFormation's view is what
counts (the functions' runtime), as packaged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployer import definition, templates
from release import defaults

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILES = sorted(p.name for p in (ROOT / "cfn").glob("*.yaml"))


@pytest.fixture(scope="module")
def packaged() -> list[dict[str, Any]]:
    result = templates.package("release-artifacts-123456789012-us-east-1", "us-east-1")
    return [json.loads(body) for key, body in result.objects.items() if key.endswith(".json")]


def parameter_defaults(parameter: str) -> dict[str, Any]:
    """The parameter's default in every template that declares it (None where it has none)."""
    found = {}
    for name in TEMPLATE_FILES:
        declared = templates.load(name).get("Parameters", {})
        if parameter in declared:
            found[name] = declared[parameter].get("Default")
    return found


def assert_default(parameter: str, expected: object, declared_in: set[str]) -> None:
    found = parameter_defaults(parameter)
    assert declared_in <= set(found), f"{parameter} is no longer declared in {declared_in - set(found)}"
    assert {name: str(value) for name, value in found.items()} == {name: str(expected) for name in found}


def functions(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical, resource in template.get("Resources", {}).items():
        if resource["Type"] == "AWS::Lambda::Function":
            yield logical, resource["Properties"]


def states(asl: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in asl["States"].items():
        yield name, state
        for branch in state.get("Branches", []) + ([state["Iterator"]] if "Iterator" in state else []):
            yield from states(branch)


def engine(packaged: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [t for t in packaged if any(r["Type"] == "AWS::StepFunctions::StateMachine"
                                          for r in t.get("Resources", {}).values())]
    return found


# The templates' parameter defaults.

def test_production_port_default() -> None:
    assert_default("ProductionPort", defaults.PRODUCTION_PORT, {"main.yaml", "load-balancer.yaml", "pipeline.yaml"})


def test_test_port_default() -> None:
    assert_default("TestPort", defaults.TEST_PORT, {"main.yaml", "load-balancer.yaml", "pipeline.yaml"})


def test_container_port_default() -> None:
    assert_default("ContainerPort", defaults.CONTAINER_PORT, {"main.yaml", "load-balancer.yaml", "service.yaml"})


def test_release_policy_defaults() -> None:
    assert_default("BakeSeconds", defaults.BAKE_SECONDS, {"main.yaml", "pipeline.yaml"})
    assert_default("HealthDeadlineSeconds", defaults.HEALTH_DEADLINE_SECONDS, {"main.yaml", "pipeline.yaml"})


def test_strategy_default() -> None:
    assert_default("Strategy", defaults.STRATEGY, {"main.yaml", "pipeline.yaml"})


# The functions, as CloudFormation receives them.

def test_every_function_runs_on_the_lambda_runtime(packaged: list[dict[str, Any]]) -> None:
    found = {logical: properties["Runtime"] for t in packaged for logical, properties in functions(t)}
    assert len(dict(functions(engine(packaged)))) >= 10
    assert found == dict.fromkeys(found, defaults.LAMBDA_RUNTIME)


def test_every_function_runs_on_the_lambda_architecture(packaged: list[dict[str, Any]]) -> None:
    found = {logical: properties["Architectures"] for t in packaged for logical, properties in functions(t)}
    assert len(dict(functions(engine(packaged)))) >= 10
    assert found == {logical: [defaults.LAMBDA_ARCHITECTURE] for logical in found}


# The state machine.

def test_the_approval_state_waits_for_a_task_token(packaged: list[dict[str, Any]]) -> None:
    """The command line watches for APPROVAL_STATE; it must be the task that waits for the approver."""
    found = dict(states(definition.load()))
    assert defaults.APPROVAL_STATE in found, sorted(found)
    state = found[defaults.APPROVAL_STATE]
    [placeholder] = definition.placeholders(state["Resource"])
    assert state["Type"] == "Task", state
    substitutions = engine(packaged)["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    resource = substitutions[placeholder]
    arn = resource["Fn::Sub"] if isinstance(resource, dict) else resource
    assert arn.endswith(".waitForTaskToken"), resource


# The command line's defaults (deploy.py, deployer/settings.py), the pipeline's prepare step, the build.

def test_the_command_line_deploys_with_the_same_defaults() -> None:
    from deployer.settings import Settings

    settings = Settings()
    assert (settings.production_port, settings.test_port, settings.container_port) == \
        (defaults.PRODUCTION_PORT, defaults.TEST_PORT, defaults.CONTAINER_PORT)
    assert (settings.strategy, settings.bake_seconds) == (defaults.STRATEGY, defaults.BAKE_SECONDS)
    assert settings.health_deadline_seconds == defaults.HEALTH_DEADLINE_SECONDS


def test_the_command_line_help_states_the_defaults() -> None:
    from deployer.cli import parser

    up = " ".join(parser()._subparsers._group_actions[0].choices["up"].format_help().split())  # type: ignore[union-attr,index]
    for fact in (f"default: {defaults.PRODUCTION_PORT}", f"default: {defaults.TEST_PORT}",
                 f"default: {defaults.BAKE_SECONDS}", f"default: {defaults.CONTAINER_PORT}",
                 f"default: {defaults.HEALTH_DEADLINE_SECONDS}"):
        assert fact in up


def test_the_engine_parses_a_request_with_the_same_defaults() -> None:
    from release.config import parse_request

    parsed = parse_request({"loadBalancer": "lb", "cluster": "c"})
    traffic = parsed["traffic"]
    assert (traffic["bakeSeconds"], traffic["checkIntervalSeconds"], traffic["strategy"]) == \
        (defaults.BAKE_SECONDS, defaults.CHECK_INTERVAL_SECONDS, defaults.STRATEGY)
    assert parsed["health"]["deadlineSeconds"] == defaults.HEALTH_DEADLINE_SECONDS


def test_the_lambda_package_is_built_for_the_lambda_runtime() -> None:
    import inspect

    from deployer import package

    signature = inspect.signature(package.install_dependencies).parameters
    assert signature["platform"].default == defaults.LAMBDA_PLATFORM
    assert signature["python_version"].default == defaults.LAMBDA_PYTHON_VERSION
    assert defaults.LAMBDA_PLATFORM.endswith("aarch64") == (defaults.LAMBDA_ARCHITECTURE == "arm64")
    makefile = (ROOT / "Makefile").read_text()
    assert f"--platform {defaults.LAMBDA_PLATFORM} --python-version {defaults.LAMBDA_PYTHON_VERSION}" in makefile


def test_the_command_line_knows_the_output_of_a_system_without_a_pipeline() -> None:
    from deployer.pipelines import NO_PIPELINE

    assert templates.load("main.yaml")["Outputs"]["PipelineName"]["Value"]["Fn::If"][2] == NO_PIPELINE
