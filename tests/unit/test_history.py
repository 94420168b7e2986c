"""Release history: a release's record from its execution, history events, decision and pipeline run."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from deployer.history import STAGES, decisions, lines, split, stage_of, stage_seconds, started_by, summarize

T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def entered(seconds: float, name: str) -> dict[str, Any]:
    return {"timestamp": T0 + dt.timedelta(seconds=seconds), "stateEnteredEventDetails": {"name": name}}


def exited(seconds: float, name: str, output: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": T0 + dt.timedelta(seconds=seconds),
            "stateExitedEventDetails": {"name": name, "output": json.dumps(output)}}


def side(name: str, image: str) -> dict[str, Any]:
    return {"targetGroupName": name, "targetGroupArn": f"arn:{name}", "service": {"images": [image]}}


TOPOLOGY = {"blue": side("shop-code1", "web:1"), "green": side("shop-code2", "web:2"),
            "production": {"arn": "arn:listener/80"}}
CONFIG = {"action": "release", "traffic": {"strategy": "canary"}}


def events(outcome: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = [entered(0, "Discover the topology"), exited(1, "Discover the topology",
                                                         {"config": CONFIG, "topology": TOPOLOGY}),
             entered(1, "Take the release lock"), entered(2, "Check green's health"),
             entered(5, "Is green healthy?"), entered(5, "Is there an after-test-traffic hook?"),
             entered(5, "Call the hook"), entered(8, "Is approval required?"), entered(8, "Ask for approval"),
             entered(68, "Shift traffic"), entered(69, "Watch green"), entered(99, "Swap traffic"),
             entered(100, "Start the bake"), entered(100, "Watch production"), entered(110, "Notify the operators")]
    if outcome:
        found.append(exited(111, "Notify the operators", {"config": CONFIG, "topology": TOPOLOGY,
                                                         "outcome": outcome}))
    return found


def test_every_state_counts_in_a_stage_and_choices_in_the_stage_before() -> None:
    assert stage_of("Is there an after-test-traffic hook?", "health") == "health"  # a choice: no time of its own
    assert stage_of("Call the hook", "health") == "hooks"
    assert stage_of("Is green still fine?", "traffic") == "traffic"
    assert stage_of("Prepare the traffic move", "approval") == "traffic"
    assert stage_of("Which strategy?", "traffic") == "traffic"
    assert stage_of("Released", "report") == "report"
    spent = stage_seconds(events(None), T0 + dt.timedelta(seconds=111))
    assert spent == {"discover": 2.0, "health": 3.0, "hooks": 3.0, "approval": 60.0, "traffic": 32.0,
                     "bake": 10.0, "report": 1.0}


def test_a_finished_release_says_what_went_where_and_why() -> None:
    execution = {"executionArn": "arn:exec:shop-1", "name": "shop-1", "status": "SUCCEEDED", "startDate": T0,
                 "stopDate": T0 + dt.timedelta(seconds=111),
                 "input": json.dumps({"expectedImage": "web:2", "description": "deploy.py release"})}
    decision = {"decision": "approved", "by": "ada@example.com", "note": "Ada", "at": "x", "reason": "",
                "delivered": True}
    record = summarize(execution, events({"status": "SUCCEEDED", "message": "Release succeeded on shop-alb."}),
                       decision, "pipe-123", T0)
    assert (record["imagesFrom"], record["imagesTo"], record["strategy"]) == (["web:1"], ["web:2"], "canary")
    assert (record["outcome"], record["reason"]) == ("SUCCEEDED", "Release succeeded on shop-alb.")
    assert (record["seconds"], record["endedAt"]) == (111.0, "2026-11-27T09:01:51+00:00")
    assert record["decision"]["by"] == "ada@example.com" and record["pipelineExecution"] == "pipe-123"


def test_a_release_that_ended_without_reporting_says_how_it_ended() -> None:
    execution = {"executionArn": "arn:exec:shop-2", "status": "ABORTED", "startDate": T0,
                 "stopDate": T0 + dt.timedelta(seconds=5), "input": json.dumps({"expectedImage": "web:3"})}
    record = summarize(execution, events(None)[:2], None, None, T0)
    assert (record["outcome"], record["reason"]) == ("ABORTED", "the execution aborted")
    assert record["imagesTo"] == ["web:2"]  # what discovery found on green


def test_a_running_release_says_where_it_is_and_where_traffic_goes() -> None:
    execution = {"executionArn": "arn:exec:shop-3", "status": "RUNNING", "startDate": T0, "input": "{}"}
    listener = {"DefaultActions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": "arn:shop-code1", "Weight": 90}, {"TargetGroupArn": "arn:shop-code2", "Weight": 10}]}}]}
    traffic = split(listener, TOPOLOGY)
    record = summarize(execution, events(None)[:11], None, None, T0 + dt.timedelta(seconds=80), traffic)
    assert (record["outcome"], record["reason"]) == ("RUNNING", "at 'Watch green'")
    assert [(s["targetGroup"], s["percent"]) for s in record["traffic"]] == [("shop-code1", 90), ("shop-code2", 10)]
    assert record["endedAt"] is None and record["seconds"] == 80.0


def test_decisions_name_the_links_address_and_keep_the_typed_name_as_a_note() -> None:
    items = [{"executionArn": {"S": "e1"}, "status": {"S": "DECIDED"}, "decision": {"S": "approve"},
              "decidedBy": {"S": "Ada"}, "decidedAt": {"N": "1795770000"}, "approver": {"S": "ada@example.com"}},
             {"executionArn": {"S": "e2"}, "status": {"S": "DECIDED"}, "decision": {"S": "reject"},
              "decidedBy": {"S": "me (deploy.py)"}, "decidedAt": {"N": "1795770000"}, "reason": {"S": "v1"},
              "approver": {"S": ""}},
             {"executionArn": {"S": "e3"}, "status": {"S": "PENDING"}}]
    found = decisions(items)
    assert (found["e1"]["decision"], found["e1"]["by"], found["e1"]["note"]) == ("approved", "ada@example.com", "Ada")
    assert (found["e2"]["decision"], found["e2"]["by"], found["e2"]["reason"]) == ("rejected", "me (deploy.py)", "v1")
    assert "e3" not in found


def test_the_table_has_a_row_per_release_with_its_reason_and_stages_below() -> None:
    execution = {"executionArn": "arn:exec:shop-1", "status": "FAILED", "startDate": T0,
                 "stopDate": T0 + dt.timedelta(seconds=111), "input": "{}"}
    record = summarize(execution, events({"status": "ROLLED_BACK", "message": "rolled back: 5XX rate"}), None,
                       None, T0)
    text = lines([record])
    assert text[0].split() == ["STARTED", "(UTC)", "TOOK", "FROM", "TO", "STRATEGY", "OUTCOME", "DECIDED", "BY",
                               "PIPELINE", "RUN"]
    assert text[1].split() == ["2026-11-27", "09:00:00", "111s", "web:1", "web:2", "canary", "ROLLED_BACK", "-", "-"]
    assert text[2].strip() == "rolled back: 5XX rate"
    assert text[3].strip().startswith("stages: discover 2s, health 3s, hooks 3s, approval 60s")
    assert lines([]) == ["no release yet"]


def test_the_pipeline_run_is_found_by_the_actions_external_id_or_the_execution_name_it_gave() -> None:
    def action(action_id: str, pipeline: str, external: str | None, provider: str = "StepFunctions") -> dict[str, Any]:
        return {"actionExecutionId": action_id, "pipelineExecutionId": pipeline,
                "input": {"actionTypeId": {"provider": provider}},
                "output": {"executionResult": {"externalExecutionId": external}} if external else {}}
    actions = [action("a-1", "p-1", "arn:exec:shop-a-1"), action("a-2", "p-2", None)]
    assert started_by(actions, {"executionArn": "arn:exec:shop-a-1", "name": "shop-a-1"}) == "p-1"
    assert started_by(actions, {"executionArn": "arn:exec:shop-a-2", "name": "shop-a-2"}) == "p-2"
    assert started_by(actions, {"executionArn": "arn:exec:release-x", "name": "release-x"}) is None


def test_every_task_and_wait_of_the_state_machine_counts_in_a_stage_of_its_own() -> None:
    from deployer import definition

    states = definition.load()["States"]
    timed = {name for name, state in states.items() if state["Type"] in ("Task", "Wait")}
    assert {name: stage_of(name, "?") for name in timed if stage_of(name, "?") not in STAGES} == {}
    assert stage_of("Ask for approval", "?") == "approval" and stage_of("Wait during the bake", "?") == "bake"
    assert stage_of("Wait before calling the hook again", "?") == "hooks"
