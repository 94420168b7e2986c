"""Lifecycle hooks in the real state machine: each stage's hook is called with the release's context, and its
answers (ECS's contract) decide whether the release goes on, stops before approval, or rolls back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.approve import approval_link, decide
from tests.support.world import World

pytestmark = pytest.mark.flow
OK = {"hookStatus": "SUCCEEDED"}


def reported(world: World) -> dict[str, Any]:
    """The operators' notification: its message and the release report it carries."""
    message = world.wait_for_message("notifications")["Message"]
    text, _, report = message.partition("\n\nRelease report:\n")
    return {"message": text, **json.loads(report)}


def no_approval(world: World, hooks: dict[str, Any], **traffic: Any) -> dict[str, Any]:
    return world.request(approval={"required": False}, hooks=hooks,
                         traffic={"bakeSeconds": 0, "checkIntervalSeconds": 1, "judge": {"periodSeconds": 1},
                                  **traffic})


def test_after_test_traffic_is_told_the_release_and_runs_before_approval(world: World) -> None:
    script = world.add_hook("shop-hook-smoke", OK)
    execution = world.start(world.request(hooks={"after-test-traffic": "shop-hook-smoke"}, description="v2"))
    _, approval_id = approval_link(world)
    assert len(script.calls) == 1  # before anyone was asked
    told = script.calls[0][1]
    assert told["stage"] == "after-test-traffic" and told["attempt"] == 1 and told["execution"] == execution
    assert told["testUrl"] == f"http://{world.ids['dns']}:8080/"
    assert told["productionUrl"] == f"http://{world.ids['dns']}:80/"
    assert told["green"]["images"] == ["shop-web:2.0.0"] and told["blue"]["images"] == ["shop-web:1.0.0"]
    assert told["green"]["targetGroupArn"] == world.ids["Code2"] and told["greenTrafficPercent"] == 0
    assert (told["loadBalancer"], told["cluster"], told["description"]) == ("shop-alb", "shop", "v2")
    decide(world, approval_id, "approve")
    assert world.wait(execution)["status"] == "SUCCEEDED"
    assert world.production_target() == world.ids["Code2"]


def test_failed_before_approval_stops_the_release_with_the_hooks_reason(world: World) -> None:
    world.add_hook("shop-hook-smoke", {"hookStatus": "FAILED", "reason": "GET /api/status answered 500"})
    described = world.wait(world.start(world.request(hooks={"after-test-traffic": "shop-hook-smoke"})))
    assert described["status"] == "FAILED"
    assert described["error"] == "HookFailed"
    assert "shop-hook-smoke answered FAILED: GET /api/status answered 500" in described["cause"]
    assert world.production_target() == world.ids["Code1"]
    assert world.messages("approvals") == []  # nobody was asked to approve it
    report = reported(world)
    assert "in a lifecycle hook before approval" in report["message"]
    assert "Production is unchanged" in report["message"]
    assert (report["status"], report["failedStep"]) == ("FAILED", "hook")


def test_in_progress_is_asked_again_after_its_delay_with_the_details_it_handed_back(world: World) -> None:
    script = world.add_hook("shop-hook-tests",
                            {"hookStatus": "IN_PROGRESS", "callBackDelay": 1, "hookDetails": {"run": "r-42"}}, OK)
    described = world.wait(world.start(no_approval(
        world, {"after-test-traffic": {"function": "shop-hook-tests", "details": {"suite": "smoke"}}})))
    assert described["status"] == "SUCCEEDED"
    (first_at, first), (second_at, second) = script.calls
    assert (first["attempt"], first["hookDetails"]) == (1, {"suite": "smoke"})
    assert (second["attempt"], second["hookDetails"]) == (2, {"run": "r-42"})
    assert second_at - first_at >= 0.9  # waited for the callBackDelay


def test_a_hook_still_in_progress_at_its_timeout_stops_the_release(world: World) -> None:
    world.add_hook("shop-hook-slow", {"hookStatus": "IN_PROGRESS", "callBackDelay": 1})
    described = world.wait(world.start(no_approval(
        world, {"after-test-traffic": {"function": "shop-hook-slow", "timeoutSeconds": 3}})))
    assert described["error"] == "HookFailed"
    assert "still IN_PROGRESS when its 3 s timeout ran out" in described["cause"]
    assert world.production_target() == world.ids["Code1"]


@pytest.mark.parametrize("garbage", [None, "done", {"status": "SUCCEEDED"}])
def test_an_answer_outside_the_contract_stops_the_release_and_says_what_it_was(world: World, garbage: Any) -> None:
    world.add_hook("shop-hook-odd", garbage)
    described = world.wait(world.start(no_approval(world, {"after-test-traffic": "shop-hook-odd"})))
    assert described["error"] == "HookFailed"
    assert "not a hookStatus of SUCCEEDED, FAILED or IN_PROGRESS" in described["cause"]
    assert world.production_target() == world.ids["Code1"]


def test_a_hook_that_raises_stops_the_release_with_its_error(world: World) -> None:
    def crash(event: dict[str, Any]) -> Any:
        raise KeyError("url")
    world.add_hook("shop-hook-crash", crash)
    described = world.wait(world.start(no_approval(world, {"after-test-traffic": "shop-hook-crash"})))
    assert described["error"] == "HookFailed"
    assert "shop-hook-crash could not be called or failed with KeyError" in described["cause"]


def test_after_production_shift_runs_after_each_step_and_the_swap(world: World) -> None:
    script = world.add_hook("shop-hook-prod", OK)
    described = world.wait(world.start(no_approval(world, {"after-production-shift": "shop-hook-prod"},
                                                   strategy="linear:50:0.02")))
    assert described["status"] == "SUCCEEDED"
    assert [call["greenTrafficPercent"] for _, call in script.calls] == [50, 100]
    assert {call["stage"] for _, call in script.calls} == {"after-production-shift"}


def test_failed_after_the_swap_rolls_back_and_the_on_rollback_hook_runs_once(world: World) -> None:
    world.add_hook("shop-hook-prod", {"hookStatus": "FAILED", "reason": "checkout answers 503"})
    on_rollback = world.add_hook("shop-hook-page", OK)
    described = world.wait(world.start(no_approval(
        world, {"after-production-shift": "shop-hook-prod", "on-rollback": "shop-hook-page"})))
    assert described["status"] == "FAILED"
    assert world.production_target() == world.ids["Code1"]  # back on blue
    report = reported(world)
    assert report["status"] == "ROLLED_BACK"
    assert "checkout answers 503" in report["message"]
    [(_, told)] = on_rollback.calls
    assert told["stage"] == "on-rollback" and "checkout answers 503" in told["rollbackReason"]
    assert told["greenTrafficPercent"] == 0


def test_a_failing_on_rollback_hook_is_reported_and_production_stays_on_blue(world: World) -> None:
    world.add_hook("shop-hook-prod", {"hookStatus": "FAILED", "reason": "bad"})
    world.add_hook("shop-hook-page", {"hookStatus": "FAILED", "reason": "pager unreachable"})
    described = world.wait(world.start(no_approval(
        world, {"after-production-shift": "shop-hook-prod", "on-rollback": "shop-hook-page"})))
    assert described["status"] == "FAILED"
    report = reported(world)
    assert report["status"] == "ROLLED_BACK"
    assert "The on-rollback hook failed: " in report["message"]
    assert "pager unreachable" in report["onRollbackHookError"]
    assert world.production_target() == world.ids["Code1"]


def test_a_hook_that_does_not_exist_is_refused_before_anything_changes(world: World) -> None:
    described = world.wait(world.start(no_approval(world, {"after-test-traffic": "shop-hook-typo"})))
    assert described["error"] == "HookNotFound"
    assert "shop-hook-typo does not exist" in described["cause"]
    assert world.production_target() == world.ids["Code1"]


def test_a_function_outside_the_hook_prefix_is_refused_before_anything_changes(world: World) -> None:
    described = world.wait(world.start(no_approval(world, {"after-test-traffic": "shop-discover"})))
    assert described["error"] == "HookNotFound"
    assert "may invoke only functions whose names start with 'shop-hook-'" in described["cause"]


def test_a_rollback_request_runs_its_on_rollback_hook_once_the_previous_version_is_back(world: World) -> None:
    assert world.wait(world.start(world.request(approval={"required": False})))["status"] == "SUCCEEDED"
    script = world.add_hook("shop-hook-page", OK)
    described = world.wait(world.start(world.request(action="rollback", approval=None, description="v2 is slow",
                                                     hooks={"on-rollback": "shop-hook-page"})))
    assert described["status"] == "SUCCEEDED"
    assert world.production_target() == world.ids["Code1"]
    [(_, told)] = script.calls
    assert (told["stage"], told["action"], told["rollbackReason"]) == ("on-rollback", "rollback", "v2 is slow")
    assert told["greenTrafficPercent"] == 100 and told["green"]["images"] == ["shop-web:1.0.0"]


def test_a_rollback_request_runs_no_other_hook(world: World) -> None:
    described = world.wait(world.start(world.request(action="rollback", approval=None,
                                                     hooks={"after-test-traffic": "shop-hook-smoke"})))
    assert described["error"] == "InvalidInput" and "a rollback runs no 'after-test-traffic' hook" in described["cause"]
