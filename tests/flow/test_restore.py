"""A world saved while a release waits for approval, lost (every moto backend reset) and restored from the file:
everything is back, the release is ended as interrupted through the engine's own functions, and the next one runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from moto.core.base_backend import BackendDict
from moto.stepfunctions.parser.backend.execution import Execution

from sandbox import interrupted, statefile
from sandbox.gate import Gate
from sandbox.persist import INTERRUPTED, Store
from tests.support.approve import approval_link, decide, request
from tests.support.world import World

pytestmark = pytest.mark.flow


def _token(world: World) -> str:
    items = world.client("dynamodb").scan(TableName=world.ids["table"])["Items"]
    return str(next(item["taskToken"]["S"] for item in items if "taskToken" in item))


def _lose_and_restore(world: World, execution: str, tmp_path: Path) -> list[Execution]:
    store = Store(tmp_path, Gate())
    assert store.save() and statefile.path_in(tmp_path).exists()
    # The crash: the execution's thread ends (here it is made to end, or it would run on into other tests), and
    # every backend is lost.
    world.client("stepfunctions").send_task_failure(taskToken=_token(world), error="Crash", cause="test")
    world.wait(execution)
    BackendDict.reset()
    ended = Store(tmp_path, Gate()).load()
    assert ended is not None
    return ended


def test_a_restored_world_has_everything_and_ends_the_interrupted_release(world: World, tmp_path: Path) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    assert request(world, approval_id)["statusCode"] == 200
    sfn = world.client("stepfunctions")
    before = sfn.get_execution_history(executionArn=execution)["events"]

    ended = _lose_and_restore(world, execution, tmp_path)

    assert [e.exec_arn for e in ended] == [execution]
    assert world.production_target() == world.ids["Code1"]  # the load balancer, its listeners, as they were
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "ABORTED" and described["error"] == INTERRUPTED
    assert "'Ask for approval'" in described["cause"]
    events = sfn.get_execution_history(executionArn=execution)["events"]
    assert [e["type"] for e in events] == [e["type"] for e in before] + ["ExecutionAborted"]
    assert request(world, approval_id)["statusCode"] == 410  # the link: no longer waiting, before any decision
    answer = decide(world, approval_id, "approve")
    assert answer["statusCode"] == 410 and "no longer waiting" in answer["body"]

    lines = interrupted.end(ended, world.client("lambda"), world.client("elbv2"))
    assert "failed while waiting for approval with Sandbox.Interrupted" in lines[0]
    notification = world.wait_for_message("notifications")
    assert notification["Subject"].startswith("Release failed (Sandbox.Interrupted)")
    assert "Production is unchanged" in notification["Message"]
    assert "failed while waiting for approval" in sfn.describe_execution(executionArn=execution)["cause"]
    assert lines[0].startswith(execution.rsplit(":", 1)[-1])

    nxt = world.start(world.request())  # the lock was released: the next release is asked for approval
    _, second = approval_link(world)
    assert decide(world, second, "approve")["statusCode"] == 200
    assert world.wait(nxt)["status"] == "SUCCEEDED"
    assert world.production_target() == world.ids["Code2"]


def test_a_task_token_of_a_restored_execution_is_refused(world: World, tmp_path: Path) -> None:
    execution = world.start(world.request())
    approval_link(world)
    token = _token(world)
    _lose_and_restore(world, execution, tmp_path)
    with pytest.raises(ClientError) as refused:  # the release's own token: no thread waits for it any more
        world.client("stepfunctions").send_task_success(taskToken=token, output="{}")
    assert refused.value.response["Error"]["Code"] in ("InvalidToken", "TaskDoesNotExist")
