from __future__ import annotations

from typing import Any

import pytest

import discover
from release.config import ProbeRoute, parse_request, validate_probe_route
from release.exceptions import InvalidInput
from release.settings import invocation_settings
from tests.conftest import FakeContext

MINIMAL = {"loadBalancer": "shop-alb", "cluster": "shop"}


def test_minimal_release_request_gets_safe_defaults() -> None:
    config = parse_request(MINIMAL)
    assert config["action"] == "release"
    assert (config["productionPort"], config["testPort"]) == (80, 8080)
    assert config["approval"] == {"required": True, "timeoutSeconds": 86400}
    assert config["health"]["deadlineSeconds"] == 600 and config["health"]["probe"] is None
    assert config["codePipelineJobId"] is None


def test_rollback_does_not_require_approval_unless_asked() -> None:
    assert parse_request({**MINIMAL, "action": "rollback"})["approval"]["required"] is False
    asked = parse_request({**MINIMAL, "action": "rollback", "approval": {"required": True}})
    assert asked["approval"]["required"] is True


def test_probe_defaults_and_base_url() -> None:
    probe = parse_request({**MINIMAL, "health": {"probe": {"path": "/health", "baseUrl": "http://127.0.0.1:8080"}}})[
        "health"]["probe"]
    assert probe == {"path": "/health", "expectedStatus": 200, "timeoutSeconds": 5, "baseUrl": "http://127.0.0.1:8080"}


@pytest.mark.parametrize(("request_", "problem"), [
    ({"cluster": "shop"}, "'loadBalancer' is required"),
    ({"loadBalancer": "shop-alb"}, "'cluster' is required"),
    ({**MINIMAL, "productionPort": "80"}, "'productionPort' must be a whole number from 1 to 65535"),
    ({**MINIMAL, "testPort": True}, "'testPort' must be a whole number"),
    ({**MINIMAL, "productionPort": 8080}, "must differ"),
    ({**MINIMAL, "action": "deploy"}, "'action' must be 'release' or 'rollback'"),
    ({**MINIMAL, "approval": {"timeoutSeconds": 0}}, "'approval.timeoutSeconds' must be a whole number from 1"),
    ({**MINIMAL, "approval": {"required": "yes"}}, "'approval.required' must be true or false"),
    ({**MINIMAL, "health": {"probe": {"path": "health"}}}, "'health.probe.path' must start with '/'"),
    ({**MINIMAL, "health": {"probe": {"baseUrl": "file:///etc/passwd"}}}, "'health.probe.baseUrl' must look like"),
    ({**MINIMAL, "health": []}, "'health' must be an object"),
    ({**MINIMAL, "codePipelineJobId": "12"}, "'codePipelineJobId' must be a CodePipeline job id"),
    ({**MINIMAL, "loadbalancer": "typo"}, "unknown field 'loadbalancer'"),
    ("shop-alb", "must be a JSON object"),
])
def test_bad_request_names_the_problem(request_: Any, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem.replace("(", r"\(").replace("'", "'")):
        parse_request(request_)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_request({"productionPort": 0, "approval": {"required": 1}})
    message = str(raised.value)
    for problem in ("'loadBalancer'", "'cluster'", "'productionPort'", "'approval.required'"):
        assert problem in message
    assert message.endswith("Nothing was changed.")


def test_traffic_strategies_parse_into_steps() -> None:
    canary = parse_request({**MINIMAL, "traffic": {"strategy": "canary:10:5", "alarms": ["a"]}})["traffic"]
    assert (canary["strategy"], canary["stepPercent"], canary["intervalSeconds"]) == ("canary", 10, 300)
    assert canary["bakeSeconds"] == 180 and canary["alarms"] == ["a"]
    linear = parse_request({**MINIMAL, "traffic": {"strategy": "linear:25:0.5", "bakeSeconds": 0}})["traffic"]
    assert (linear["stepPercent"], linear["intervalSeconds"], linear["bakeSeconds"]) == (25, 30, 0)


@pytest.mark.parametrize(("traffic", "problem"), [
    ({"strategy": "blue-green"}, "unknown strategy 'blue-green'"),
    ({"strategy": "canary:10"}, "needs a percentage and minutes"),
    ({"strategy": "linear:0:5"}, "must be from 1 to 99"),
    ({"strategy": "canary:ten:5"}, "must be a whole number"),
    ({"alarms": "shop-5xx"}, "must be a list"),
])
def test_bad_traffic_settings_are_named(traffic: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_request({**MINIMAL, "traffic": traffic})


def test_a_rollback_is_neither_shifted_nor_baked_nor_watched() -> None:
    assert parse_request({**MINIMAL, "action": "rollback"})["traffic"]["bakeSeconds"] == 0
    with pytest.raises(InvalidInput, match="a rollback moves all traffic at once"):
        parse_request({**MINIMAL, "action": "rollback", "traffic": {"alarms": ["shop-5xx"]}})


PROBED = {**MINIMAL, "health": {"probe": {"path": "/health"}}}


def test_a_probe_the_check_health_function_has_no_path_for_is_refused_with_the_fix() -> None:
    config = parse_request(PROBED)
    with pytest.raises(InvalidInput) as raised:
        validate_probe_route(config, ProbeRoute.NONE)
    message = str(raised.value)
    for words in ("'health.probe'", "TaskSubnets=public", "no NAT gateways", "outside the VPC", "only TestCidr",
                  "TaskSubnets=private", "leave out 'health.probe'", "Nothing was changed."):
        assert words in message
    validate_probe_route(config, ProbeRoute.NAT)  # from the private subnets through NAT: the path exists


def test_no_probe_or_the_requesters_own_url_leaves_nothing_to_refuse() -> None:
    validate_probe_route(parse_request(MINIMAL), ProbeRoute.NONE)
    own = parse_request({**MINIMAL, "health": {"probe": {"baseUrl": "https://green.example.test"}}})
    validate_probe_route(own, ProbeRoute.NONE)


def test_the_release_refuses_the_probe_at_the_start_before_reading_anything() -> None:
    """No AWS is mocked here: the refusal comes before the first call."""
    with invocation_settings({"PROBE_ROUTE": ProbeRoute.NONE.value}), \
            pytest.raises(InvalidInput, match="TaskSubnets=private"):
        discover.handler({"request": PROBED}, FakeContext())  # type: ignore[arg-type]
