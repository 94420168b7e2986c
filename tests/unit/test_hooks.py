"""Lifecycle hooks: the request's hooks, what a hook is told, and what its answers mean (ECS's contract)."""

from __future__ import annotations

from typing import Any

import pytest

from release.exceptions import HookFailed, HookNotFound, InvalidInput
from release.hooks import (
    Action,
    HookRun,
    Stage,
    compute_payload,
    describe_call_error,
    hook_prefix,
    hooks_request,
    next_step,
    parse_hook_option,
    parse_hooks,
    start_run,
    verify_hooks,
)
from release.smoke import Check, answer, judge_answer, parse_checks_details, parse_checks_text, target_url


def parsed(raw: Any, rollback: bool = False) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    return parse_hooks(raw, problems, rollback), problems


def test_stages_are_named_as_on_the_command_line_and_kept_under_asl_friendly_keys() -> None:
    hooks, problems = parsed({"after-test-traffic": "shop-hook-smoke",
                              "on-rollback": {"function": "shop-hook-page", "timeoutSeconds": 30,
                                              "details": {"team": "web"}}})
    assert problems == []
    assert hooks == {"afterTestTraffic": {"function": "shop-hook-smoke", "timeoutSeconds": 600, "details": {}},
                     "afterProductionShift": None,
                     "onRollback": {"function": "shop-hook-page", "timeoutSeconds": 30, "details": {"team": "web"}}}


@pytest.mark.parametrize(("raw", "says"), [
    ({"before-approval": "x"}, "unknown hook stage 'before-approval'"),
    ({"after-test-traffic": "has space"}, "must be a Lambda function's name or ARN"),
    ({"after-test-traffic": {"function": "f", "timeoutSeconds": 0}}, "from 1 to 3600"),
    ({"after-test-traffic": {"function": "f", "retries": 2}}, "must be a function name or"),
    ({"after-test-traffic": {"function": "f", "details": "text"}}, "'hooks.after-test-traffic.details'"),
    ("shop-hook-smoke", "'hooks' must be an object"),
])
def test_bad_hooks_are_named(raw: Any, says: str) -> None:
    _, problems = parsed(raw)
    assert len(problems) == 1 and says in problems[0]


def test_a_rollback_runs_only_an_on_rollback_hook() -> None:
    _, problems = parsed({"after-test-traffic": "f", "on-rollback": "g"}, rollback=True)
    assert problems == ["a rollback runs no 'after-test-traffic' hook: leave it out"]


def test_the_command_line_and_the_stack_name_hooks_as_stage_equals_function() -> None:
    assert parse_hook_option("after-test-traffic=shop-hook-smoke-test") == ("after-test-traffic",
                                                                            "shop-hook-smoke-test")
    assert hooks_request("after-test-traffic=a, on-rollback=b") == {"after-test-traffic": "a", "on-rollback": "b"}
    assert hooks_request("") == {}
    for bad in ("after-test-traffic", "later=f", "on-rollback=not a name"):
        with pytest.raises(ValueError):
            parse_hook_option(bad)


def test_only_existing_functions_under_the_systems_prefix_may_be_hooks() -> None:
    hooks, _ = parsed({"after-test-traffic": "shop-hook-smoke", "on-rollback":
                       "arn:aws:lambda:us-east-1:123456789012:function:shop-hook-page:live"})
    exists = {"shop-hook-smoke", "arn:aws:lambda:us-east-1:123456789012:function:shop-hook-page:live"}
    verify_hooks(hooks, "shop-hook-", lambda f: f if f in exists else None)
    with pytest.raises(HookNotFound, match="does not exist in this account and region"):
        verify_hooks(hooks, "shop-hook-", lambda f: None)
    outside, _ = parsed({"after-production-shift": "shop-discover"})
    with pytest.raises(HookNotFound, match="only functions whose names start with 'shop-hook-'"):
        verify_hooks(outside, "shop-hook-", lambda f: f)


OK_ANSWER = {"hookStatus": "SUCCEEDED"}


def run_after(answer: Any, now: int = 1000, started: int = 1000, timeout: int = 600) -> HookRun:
    first = next_step(start_run(Stage.AFTER_TEST_TRAFFIC, {"function": "shop-hook-smoke", "timeoutSeconds": timeout,
                                                           "details": {"n": 1}}, started), started)
    assert first["action"] == Action.INVOKE and first["attempt"] == 1 and first["hookDetails"] == {"n": 1}
    return next_step({**first, "answer": answer}, now)


def test_succeeded_goes_on() -> None:
    assert run_after({"hookStatus": "SUCCEEDED"})["action"] == Action.DONE


def test_failed_stops_with_the_hooks_own_reason() -> None:
    with pytest.raises(HookFailed, match="shop-hook-smoke answered FAILED: GET /api answered 500"):
        run_after({"hookStatus": "FAILED", "reason": "GET /api answered 500"})
    with pytest.raises(HookFailed, match="it gave no reason"):
        run_after({"hookStatus": "FAILED"})


def test_in_progress_is_asked_again_after_its_delay_with_its_details() -> None:
    waited = run_after({"hookStatus": "IN_PROGRESS", "callBackDelay": 5, "hookDetails": {"n": 2}}, now=1010)
    assert (waited["action"], waited["waitSeconds"], waited["attempt"], waited["hookDetails"]) == \
        (Action.WAIT, 5, 2, {"n": 2})
    assert waited["invokeTimeoutSeconds"] == 1000 + 600 - 1010 - 5  # what is left of the timeout after the wait
    assert run_after({"hookStatus": "IN_PROGRESS"})["waitSeconds"] == 30  # ECS's default


def test_in_progress_past_the_timeout_fails() -> None:
    with pytest.raises(HookFailed, match="still IN_PROGRESS when its 60 s timeout ran out"):
        run_after({"hookStatus": "IN_PROGRESS", "callBackDelay": 30}, now=1040, timeout=60)


@pytest.mark.parametrize("garbage", [None, "ok", {"status": "SUCCEEDED"}, {"hookStatus": "DONE"}, [1]])
def test_an_answer_outside_the_contract_fails_and_says_what_it_was(garbage: Any) -> None:
    with pytest.raises(HookFailed, match="not a hookStatus of SUCCEEDED, FAILED or IN_PROGRESS"):
        run_after(garbage)


@pytest.mark.parametrize("delay", [-1, 901, "30", True])
def test_a_callback_delay_outside_the_contract_fails(delay: Any) -> None:
    with pytest.raises(HookFailed, match="callBackDelay"):
        run_after({"hookStatus": "IN_PROGRESS", "callBackDelay": delay})


def test_a_call_that_failed_or_timed_out_is_described() -> None:
    run = start_run(Stage.ON_ROLLBACK, {"function": "shop-hook-page", "timeoutSeconds": 60, "details": {}}, 0)
    assert describe_call_error(run, {"Error": "States.Timeout", "Cause": ""}) == \
        "The on-rollback hook shop-hook-page did not answer within its 60 s timeout."
    said = describe_call_error(run, {"Error": "KeyError", "Cause": '{"errorMessage": "\'url\'", "stackTrace": []}'})
    assert said == "The on-rollback hook shop-hook-page could not be called or failed with KeyError: 'url'."


def topology() -> dict[str, Any]:
    def side(code: str, image: str) -> dict[str, Any]:
        return {"targetGroupArn": f"arn:tg/{code}", "targetGroupName": f"shop-{code}", "identifier": code,
                "service": {"serviceName": f"shop-{code}", "images": [image], "clusterArn": "c", "serviceArn": "s",
                            "taskDefinition": "td"}}
    return {"loadBalancerName": "shop-alb", "dnsName": "shop.example", "production": {"port": 80},
            "test": {"port": 8080}, "blue": side("code1", "web:1"), "green": side("code2", "web:2")}


def test_a_hook_is_told_the_release_both_sides_their_urls_and_where_traffic_stands() -> None:
    config = {"action": "release", "description": "v2", "cluster": "shop",
              "traffic": {"strategy": "canary"}}
    run = next_step(start_run(Stage.AFTER_PRODUCTION_SHIFT, {"function": "f", "timeoutSeconds": 60,
                                                              "details": {}}, 0), 0)
    payload = compute_payload(run, config, topology(), "arn:exec", {"shift": {"percent": 10}})
    assert payload["stage"] == "after-production-shift" and payload["attempt"] == 1
    assert (payload["productionUrl"], payload["testUrl"]) == ("http://shop.example:80/", "http://shop.example:8080/")
    assert payload["green"] == {"targetGroup": "shop-code2", "targetGroupArn": "arn:tg/code2",
                                "service": "shop-code2", "images": ["web:2"]}
    assert payload["blue"]["images"] == ["web:1"] and payload["greenTrafficPercent"] == 10
    after_swap = compute_payload(run, config, topology(), "arn:exec", {"shift": {"percent": 10}, "swap": {}})
    assert after_swap["greenTrafficPercent"] == 100
    rollback_run: HookRun = {**run, "stage": "on-rollback"}
    told = compute_payload(rollback_run, config, topology(), "arn:exec", {"rollback": {"reason": "alarm"}})
    assert told["rollbackReason"] == "alarm" and told["greenTrafficPercent"] == 0


def test_the_smoke_test_reads_its_paths_from_the_release_or_the_stack() -> None:
    assert parse_checks_text("/, /health=ok") == [Check("/"), Check("/health", "ok")]
    assert parse_checks_details({"checks": [{"path": "/api", "contains": "v2"}]}) == [Check("/api", "v2")]
    assert parse_checks_details({}) is None
    for bad in ("", "health", "/a b"):
        with pytest.raises(InvalidInput):
            parse_checks_text(bad)


def test_the_smoke_test_fails_on_any_non_2xx_missing_text_or_no_answer() -> None:
    assert judge_answer(Check("/"), 200, "hello", "") is None
    assert judge_answer(Check("/api"), 500, "", "") == "GET /api answered 500"
    assert judge_answer(Check("/", "v2"), 200, "v1", "") == "GET / answered 200 without 'v2' in its body"
    assert judge_answer(Check("/"), None, "", "connection refused") == "GET / got no answer (connection refused)"
    assert answer(["GET /api answered 500"], 3) == {"hookStatus": "FAILED", "reason": "GET /api answered 500"}
    assert answer([], 3)["hookStatus"] == "SUCCEEDED"


def test_an_answer_too_large_for_the_executions_state_fails_the_hook_not_the_execution() -> None:
    with pytest.raises(HookFailed, match="the hooks' contract allows 8192"):
        run_after({"hookStatus": "IN_PROGRESS", "hookDetails": {"report": "x" * 9000}})


def test_an_answer_that_arrives_after_the_timeout_does_not_count() -> None:
    with pytest.raises(HookFailed, match="did not answer SUCCEEDED within its 60 s timeout"):
        run_after(OK_ANSWER, now=1061, timeout=60)
    with pytest.raises(HookFailed, match="answered FAILED"):  # a failure is still a failure, and says why
        run_after({"hookStatus": "FAILED", "reason": "late"}, now=1061, timeout=60)


def test_the_smoke_test_requests_green_where_green_alone_answers() -> None:
    urls = {"testUrl": "http://lb:8080/", "productionUrl": "http://lb:80/"}
    assert target_url({**urls, "stage": "after-test-traffic"}) == "http://lb:8080/"
    assert target_url({**urls, "stage": "after-production-shift", "greenTrafficPercent": 10}) == "http://lb:8080/"
    assert target_url({**urls, "stage": "after-production-shift", "greenTrafficPercent": 100}) == "http://lb:80/"
    assert target_url({**urls, "stage": "on-rollback", "greenTrafficPercent": 0}) == "http://lb:80/"


def test_the_hook_prefix_is_one_fact_in_the_engine_the_roles_and_deploy_py() -> None:
    from deployer import templates

    engine = templates.load("engine.yaml")["Resources"]
    variables = engine["DiscoverFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["HOOK_FUNCTION_PREFIX"] == {"Fn::Sub": hook_prefix("${Name}")}
    scoped = [statement["Resource"] for role in ("StateMachineRole", "DiscoverRole")
              for policy in engine[role]["Properties"]["Policies"]
              for statement in policy["PolicyDocument"]["Statement"]
              if statement["Sid"] in ("InvokeThisSystemsHooksOnly", "CheckTheNamedHooksExist")]
    wanted = {"Fn::Sub": f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:"
                         f"{hook_prefix('${Name}')}*"}
    assert scoped == [[wanted], wanted]
    shipped = engine["SmokeTestFunction"]["Properties"]["FunctionName"]["Fn::Sub"]
    assert shipped.startswith(hook_prefix("${Name}"))  # the shipped hook may be invoked
    assert not engine["NextHookStepFunction"]["Properties"]["FunctionName"]["Fn::Sub"].startswith(
        hook_prefix("${Name}"))  # the engine's own function may not
