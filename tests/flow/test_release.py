"""The real statemachines/ definition executed in moto's interpreter, every task running real handler code."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest.mock import patch

import pytest
from moto.core.exceptions import ServiceException

from release import exceptions
from release.approval import approval_key
from sandbox import moto_ext
from tests.support.approve import approval_link, decide, request
from tests.support.world import World

pytestmark = pytest.mark.flow
TOPOLOGY_ERRORS = {cls.__name__ for cls in exceptions.TopologyError.__subclasses__()} | {"TopologyError"}


def test_approved_release_moves_production_to_green_and_reports(world: World) -> None:
    execution = world.start(world.request(description="checkout speed-up"))
    message, approval_id = approval_link(world)
    assert "shop-web:2.0.0" in message["Message"] and "shop-web:1.0.0" in message["Message"]
    assert "http://" in message["Message"] and ":8080/" in message["Message"]  # the test URL

    page = request(world, approval_id)
    assert page["statusCode"] == 200 and "Approve" in page["body"]
    response = decide(world, approval_id, "approve", reason="looks good on :8080")
    assert response["statusCode"] == 200, response["body"]

    described = world.wait(execution)
    assert described["status"] == "SUCCEEDED"
    assert world.listener_target(80) == world.ids["Code2"]
    assert world.listener_target(8080) == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}

    output = json.loads(described["output"])
    assert output["outcome"]["status"] == "SUCCEEDED"
    assert output["approval"]["approvedBy"] == "Ada Lovelace"
    assert output["approval"]["sourceIp"] == "198.51.100.7"
    assert output["swap"]["decision"] == "swap"
    assert output["outcome"]["report"]["production"]["images"] == ["shop-web:2.0.0"]
    notification = world.wait_for_message("notifications")
    assert notification["Subject"].startswith("Release succeeded")
    assert "Ada Lovelace" in notification["Message"]


def _fail_reason(described: dict[str, object]) -> tuple[str, str]:
    return str(described.get("error")), str(described.get("cause"))


def test_green_never_healthy_fails_before_approval_and_leaves_production(world: World) -> None:
    moto_ext.set_target_health(world.ids["Code2"], "10.0.2.11", "unhealthy", "Target.ResponseCodeMismatch",
                               "Health checks failed with these codes: [500]")
    execution = world.start(world.request(health={"deadlineSeconds": 2, "pollIntervalSeconds": 1,
                                                  "maxPollIntervalSeconds": 1}))
    described = world.wait(execution)
    assert described["status"] == "FAILED"
    error, cause = _fail_reason(described)
    assert error == "GreenUnhealthy"
    assert "10.0.2.11:8000 unhealthy (Target.ResponseCodeMismatch)" in cause
    assert world.production_target() == world.ids["Code1"]
    assert world.messages("approvals") == []  # nobody was asked to approve a broken version
    notification = world.wait_for_message("notifications")
    assert "GreenUnhealthy" in notification["Subject"]
    assert "Production is unchanged" in notification["Message"]


def test_a_probe_that_cannot_connect_fails_before_approval_and_says_why(world: World) -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    execution = world.start(world.request(health={
        "deadlineSeconds": 2, "pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1,
        "probe": {"path": "/health", "timeoutSeconds": 1, "baseUrl": url}}))
    described = world.wait(execution)
    error, cause = _fail_reason(described)
    assert error == "GreenUnhealthy"
    assert f"GET {url}/health: no response (" in cause and "Connection refused" in cause, cause
    assert world.production_target() == world.ids["Code1"]
    assert world.messages("approvals") == []


def test_green_that_becomes_healthy_while_polling_is_released(world: World) -> None:
    moto_ext.settle_service("shop", "shop-code2", running=1)  # 1 of 2 tasks running
    execution = world.start(world.request(approval={"required": False},
                                          health={"deadlineSeconds": 20, "pollIntervalSeconds": 1,
                                                  "maxPollIntervalSeconds": 1}))
    history = world.client("stepfunctions")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # let at least one check see the service not yet steady
        events = history.get_execution_history(executionArn=execution)["events"]
        if sum(e["type"] == "WaitStateEntered" for e in events) >= 1:
            break
        time.sleep(0.05)
    moto_ext.settle_service("shop", "shop-code2")
    described = world.wait(execution)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["health"]["attempt"] >= 2
    assert world.production_target() == world.ids["Code2"]


def test_rejected_release_leaves_production_and_says_who(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    missing_reason = decide(world, approval_id, "reject")
    assert missing_reason["statusCode"] == 400 and "Say why" in missing_reason["body"]
    response = decide(world, approval_id, "reject", name="Grace Hopper", reason="error rate on :8080")
    assert response["statusCode"] == 200 and "Rejected" in response["body"]
    described = world.wait(execution)
    assert _fail_reason(described)[0] == "ApprovalRejected"
    assert world.production_target() == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}
    notification = world.wait_for_message("notifications")
    assert "Grace Hopper" in notification["Message"] and "error rate on :8080" in notification["Message"]


def test_approval_timeout_ends_release_without_touching_production(world: World) -> None:
    execution = world.start(world.request(approval={"required": True, "timeoutSeconds": 1}))
    _, approval_id = approval_link(world)
    described = world.wait(execution)
    assert _fail_reason(described)[0] == "ApprovalTimedOut"
    assert world.production_target() == world.ids["Code1"]
    notification = world.wait_for_message("notifications")
    assert "not approved in time" in notification["Subject"]
    late = decide(world, approval_id, "approve")
    assert late["statusCode"] == 410 and world.production_target() == world.ids["Code1"]


def test_mail_scanner_opening_the_link_decides_nothing(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    for _ in range(5):  # scanners open links repeatedly, from many addresses
        page = request(world, approval_id, source_ip="203.0.113.9")
        assert page["statusCode"] == 200
        assert page["headers"]["Cache-Control"] == "no-store"
    time.sleep(0.5)
    assert world.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert world.production_target() == world.ids["Code1"]
    decide(world, approval_id, "reject", reason="scanner test done")
    assert world.wait(execution)["status"] == "FAILED"


def test_used_tampered_and_unknown_links_change_nothing(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    tampered = approval_id[:-1] + ("A" if approval_id[-1] != "A" else "B")
    assert decide(world, tampered, "approve")["statusCode"] == 404
    assert decide(world, "not-an-id", "approve")["statusCode"] == 404
    assert decide(world, approval_id, "approve")["statusCode"] == 200
    replay = decide(world, approval_id, "reject", reason="replayed")
    assert replay["statusCode"] == 409 and "already approved" in replay["body"]
    assert request(world, approval_id)["statusCode"] == 409
    assert world.wait(execution)["status"] == "SUCCEEDED"


def test_concurrent_duplicate_decisions_deliver_exactly_one(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(lambda i: decide(world, approval_id, "approve", name=f"approver {i}")["statusCode"],
                              range(4)))
    assert sorted(codes) == [200, 409, 409, 409]
    assert world.wait(execution)["status"] == "SUCCEEDED"


def test_task_token_never_leaves_the_server(world: World, capfd: pytest.CaptureFixture[str]) -> None:
    execution = world.start(world.request())
    approval_message, approval_id = approval_link(world)
    decide(world, approval_id, "approve")
    described = world.wait(execution)
    items = world.client("dynamodb").scan(TableName=world.ids["table"])["Items"]
    [record] = [item for item in items if "taskToken" in item]
    [link] = [item for item in items if "approvalRef" in item]
    token = record["taskToken"]["S"]
    assert len(token) > 20
    notification = world.wait_for_message("notifications")
    logs = capfd.readouterr()
    for text in (described["output"], approval_message["Message"], notification["Message"], logs.out, logs.err):
        assert token not in text
    assert approval_id not in logs.out + logs.err
    assert approval_key(approval_id) == link["approvalKey"]["S"]  # the table holds only the id's hash
    assert link["approvalRef"]["S"] == record["approvalKey"]["S"] and "taskToken" not in link


def test_listener_moved_between_approval_and_swap_changes_nothing(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    elb = world.client("elbv2")  # someone points production at green by hand, half-way
    elb.modify_listener(ListenerArn=world.ids["listener8080"],
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": world.ids["Code1"]}])
    decide(world, approval_id, "approve")
    described = world.wait(execution)
    error, cause = _fail_reason(described)
    assert error == "TopologyChanged" and "Nothing was changed" in cause
    assert world.listener_target(80) == world.ids["Code1"]
    assert world.listener_target(8080) == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}


def test_new_task_definition_on_green_after_approval_is_not_released(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    world.deploy_to_green("shop-web:3.0.0-unreviewed")
    decide(world, approval_id, "approve")
    described = world.wait(execution)
    assert _fail_reason(described)[0] == "TopologyChanged"
    assert world.production_target() == world.ids["Code1"]


def test_swap_interrupted_between_listener_changes_resumes_without_toggling_back(world: World) -> None:
    failures = fail_modify_listener(world.ids["listener8080"], times=1)
    execution = world.start(world.request(approval={"required": False}))
    described = world.wait(execution)
    assert described["status"] == "SUCCEEDED", described
    assert failures["raised"] == 1
    assert json.loads(described["output"])["swap"]["decision"] == "resume"
    assert world.listener_target(80) == world.ids["Code2"]
    assert world.listener_target(8080) == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}


def test_swap_that_keeps_failing_reports_where_production_points(world: World) -> None:
    fail_modify_listener(world.ids["listener8080"], times=100)
    execution = world.start(world.request(approval={"required": False}))
    described = world.wait(execution, timeout=120)
    assert _fail_reason(described)[0] == "AwsTransientError"
    notification = world.wait_for_message("notifications")
    # Production already moved to the approved, healthy side; the report says so instead of guessing.
    assert world.listener_target(80) == world.ids["Code2"]
    assert "now forwards to shop-code2 (shop-web:2.0.0)" in notification["Message"]


def test_codepipeline_job_is_reported_on_success_and_on_failure(world: World) -> None:
    ok_job, failed_job = str(uuid.uuid4()), str(uuid.uuid4())
    ok = world.start(world.request(approval={"required": False}, codePipelineJobId=ok_job))
    assert world.wait(ok)["status"] == "SUCCEEDED"
    assert moto_ext.JOB_RESULTS[ok_job]["status"] == "Succeeded"
    assert "production now serves" in moto_ext.JOB_RESULTS[ok_job]["executionDetails"]["summary"]

    moto_ext.set_target_health(world.ids["Code1"], "10.0.1.10", "unhealthy")  # Code1 is green now
    failed = world.start(world.request(codePipelineJobId=failed_job, health={"deadlineSeconds": 1}))
    assert world.wait(failed)["status"] == "FAILED"
    assert moto_ext.JOB_RESULTS[failed_job]["status"] == "Failed"
    assert "GreenUnhealthy" in moto_ext.JOB_RESULTS[failed_job]["failureDetails"]["message"]


def test_rollback_puts_the_previous_version_back(world: World) -> None:
    release = world.start(world.request(approval={"required": False}))
    assert world.wait(release)["status"] == "SUCCEEDED"
    assert world.production_target() == world.ids["Code2"]
    rollback = world.start(world.request(action="rollback", approval=None))
    described = world.wait(rollback)
    assert described["status"] == "SUCCEEDED"
    assert world.production_target() == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}
    output = json.loads(described["output"])
    assert output["config"]["approval"]["required"] is False
    assert output["outcome"]["report"]["production"]["images"] == ["shop-web:1.0.0"]
    notifications = world.messages("notifications")
    assert notifications[-1]["Subject"].startswith("Rollback succeeded")


def test_invalid_request_fails_with_a_clear_error_and_changes_nothing(world: World) -> None:
    execution = world.start({"loadBalancer": "shop-alb", "productionPort": "80", "approval": {"required": "yes"}})
    described = world.wait(execution)
    error, cause = _fail_reason(described)
    assert error == "InvalidInput"
    assert "'cluster' is required" in cause and "'productionPort' must be a whole number" in cause
    assert "'approval.required' must be true or false" in cause
    assert world.production_target() == world.ids["Code1"]


def test_unknown_load_balancer_is_an_error_not_a_first_deployment(world: World) -> None:
    described = world.wait(world.start(world.request(loadBalancer="no-such-alb")))
    error, cause = _fail_reason(described)
    assert error == "LoadBalancerNotFound" and "no-such-alb" in cause
    assert world.production_target() == world.ids["Code1"]


def fail_modify_listener(listener_arn: str, times: int) -> dict[str, int]:
    """Make ModifyListener on one listener answer 503 `times` times (after the SDK's own retries)."""
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.modify_listener
    state = {"raised": 0, "calls": 0}

    def modify_listener(self: ELBv2Backend, arn: str, *args: Any, **kwargs: Any) -> Any:
        if arn == listener_arn and state["raised"] < times:
            state["raised"] += 1
            raise ServiceUnavailable()
        return original(self, arn, *args, **kwargs)

    patcher = patch.object(ELBv2Backend, "modify_listener", modify_listener)
    patcher.start()
    _PATCHES.append(patcher)
    return state


class ServiceUnavailable(ServiceException):
    code = "ServiceUnavailable"
    message = "injected: the service is unavailable"


_PATCHES: list[Any] = []


@pytest.fixture(autouse=True)
def _undo_patches() -> Iterator[None]:
    yield
    while _PATCHES:
        _PATCHES.pop().stop()


def test_tags_that_contradict_the_listeners_are_repaired_by_the_swap(world: World) -> None:
    elb = world.client("elbv2")
    for code in ("Code1", "Code2"):  # both claim production
        elb.add_tags(ResourceArns=[world.ids[code]], Tags=[{"Key": "IsProduction", "Value": "true"}])
    described = world.wait(world.start(world.request(approval={"required": False})))
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert any("shop-code2: IsProduction is 'true', listeners say 'false'" in p
               for p in output["outcome"]["report"]["tagProblems"])
    assert world.production_tags() == {"Code1": "false", "Code2": "true"}


def test_weighted_production_listener_is_refused_before_anything_changes(world: World) -> None:
    world.client("elbv2").modify_listener(ListenerArn=world.ids["listener80"], DefaultActions=[
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": world.ids["Code1"], "Weight": 90},
            {"TargetGroupArn": world.ids["Code2"], "Weight": 10}]}}])
    described = world.wait(world.start(world.request()))
    assert _fail_reason(described)[0] == "TrafficSplitInProgress"
    assert world.messages("approvals") == []


def test_a_third_target_group_on_the_test_listener_is_refused_naming_it(world: World) -> None:
    elb = world.client("elbv2")
    third = elb.create_target_group(Name="shop-code3", Protocol="HTTP", Port=80, VpcId=world.ids["vpc"],
                                    TargetType="ip", Tags=[{"Key": "Identifier", "Value": "Code3"},
                                                           {"Key": "IsProduction", "Value": "false"}])
    elb.modify_listener(ListenerArn=world.ids["listener8080"], DefaultActions=[
        {"Type": "forward", "TargetGroupArn": third["TargetGroups"][0]["TargetGroupArn"]}])
    described = world.wait(world.start(world.request()))
    error, cause = _fail_reason(described)
    assert described["status"] == "FAILED" and error in TOPOLOGY_ERRORS, (error, cause)
    assert "shop-code3" in cause and "Production is unchanged" in cause
    assert world.production_target() == world.ids["Code1"] and world.messages("approvals") == []
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}


def test_pipeline_prepare_step_puts_the_new_image_on_green_only(world: World, tmp_path: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline_params

    (tmp_path / "build.json").write_text(json.dumps({"image": "repo/shop-web:abc123"}))
    monkeypatch.setenv("LOAD_BALANCER", "shop-alb")
    monkeypatch.setenv("CLUSTER", "shop")
    assert pipeline_params.main(["--build", str(tmp_path / "build.json"), "--params", str(tmp_path / "p.json"),
                                 "--release", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text()) == {
        "Parameters": {"Code2": "repo/shop-web:abc123", "Code1": "shop-web:1.0.0"}}
    release = json.loads((tmp_path / "r.json").read_text())
    assert release["expectedImage"] == "repo/shop-web:abc123" and release["loadBalancer"] == "shop-alb"


def test_a_second_release_on_the_same_load_balancer_is_refused_at_once(world: World) -> None:
    first = world.start(world.request())
    _, approval_id = approval_link(world)  # the first release now waits for approval, holding the lock
    second = world.wait(world.start(world.request()))
    error, cause = _fail_reason(second)
    assert error == "ReleaseInProgress" and first.rsplit(":", 1)[-1] in cause
    assert world.messages("approvals") == []  # the second never got as far as asking
    decide(world, approval_id, "approve")
    assert world.wait(first)["status"] == "SUCCEEDED"
    assert locks(world) == []  # released on the way out


@pytest.mark.parametrize("outcome", ["rejected", "timed out", "unhealthy"])
def test_the_lock_is_released_on_every_exit_path(world: World, outcome: str) -> None:
    if outcome == "unhealthy":
        moto_ext.set_target_health(world.ids["Code2"], "10.0.2.10", "unhealthy")
    request = world.request(health={"deadlineSeconds": 1, "pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1},
                            approval={"required": True, "timeoutSeconds": 1 if outcome == "timed out" else 30})
    execution = world.start(request)
    if outcome == "rejected":
        _, approval_id = approval_link(world)
        decide(world, approval_id, "reject", reason="no")
    assert world.wait(execution)["status"] == "FAILED"
    assert locks(world) == []


def test_a_lock_left_by_a_release_that_no_longer_runs_is_taken_over(world: World) -> None:
    finished = world.start(world.request(loadBalancer="no-such-alb"))  # fails at discovery, never locks
    assert world.wait(finished)["status"] == "FAILED"
    lb_arn = world.ids["lb"]
    world.client("dynamodb").put_item(TableName=world.ids["locks"], Item={
        "lockKey": {"S": lb_arn}, "executionArn": {"S": finished}, "acquiredAt": {"N": "0"}})
    described = world.wait(world.start(world.request(approval={"required": False})))
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["lock"]["tookOverFrom"] == finished
    assert locks(world) == []


def locks(world: World) -> list[dict[str, Any]]:
    return list(world.client("dynamodb").scan(TableName=world.ids["locks"])["Items"])
