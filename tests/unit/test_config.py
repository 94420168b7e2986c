from __future__ import annotations

from typing import Any

import pytest

from release.config import parse_request
from release.exceptions import InvalidInput

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
