"""Every call a function makes is authorized against its own role, as engine.yaml grants it.

The world's functions run with their template roles (tests/support/roles.py); these tests take one
permission away and show what an operator sees: the step fails naming the action, the resource and the
role to fix, production is where it was, the lock is free and the operators are told.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.approve import approval_link, decide
from tests.support.world import World

pytestmark = pytest.mark.flow


def failure(described: dict[str, Any]) -> tuple[str, str]:
    return str(described.get("error")), str(described.get("cause"))


def test_a_permission_missing_from_the_swap_role_fails_the_release_and_names_the_fix(mocked: None) -> None:
    world = World(revoked={"swap_traffic": {"elasticloadbalancing:ModifyListener"}}).build()
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    assert decide(world, approval_id, "approve")["statusCode"] == 200
    described = world.wait(execution, timeout=120)
    assert described["status"] == "FAILED"
    _, cause = failure(described)
    assert "elasticloadbalancing:ModifyListener" in cause and world.ids["listener80"] in cause
    assert "shop-swap-traffic" in cause and "allow elasticloadbalancing:ModifyListener" in cause
    assert world.production_target() == world.ids["Code1"]
    assert world.production_tags() == {"Code1": "true", "Code2": "false"}
    assert world.client("dynamodb").scan(TableName=world.ids["locks"])["Items"] == []
    notification = world.wait_for_message("notifications")
    assert "elasticloadbalancing:ModifyListener" in notification["Message"]


def test_a_read_the_role_does_not_grant_stops_the_release_before_anyone_is_asked(mocked: None) -> None:
    world = World(revoked={"discover": {"ecs:DescribeServices"}}).build()
    described = world.wait(world.start(world.request()))
    assert described["status"] == "FAILED"
    _, cause = failure(described)
    assert "ecs:DescribeServices" in cause and "shop-discover" in cause
    assert world.messages("approvals") == []
    assert world.production_target() == world.ids["Code1"]



def test_publishing_to_the_encrypted_topic_needs_the_right_to_use_its_key(mocked: None) -> None:
    world = World(revoked={"request_approval": {"kms:GenerateDataKey"}}).build()
    described = world.wait(world.start(world.request()))
    assert described["status"] == "FAILED"
    _, cause = failure(described)
    assert "KMSAccessDenied" in cause and "kms:GenerateDataKey" in cause and world.ids["key"] in cause
    assert world.messages("approvals") == []
    assert world.production_target() == world.ids["Code1"]


def test_the_workflow_may_invoke_only_what_its_role_names(mocked: None) -> None:
    world = World(revoked={"state_machine": {"lambda:InvokeFunction"}}).build()
    described = world.wait(world.start(world.request()))
    assert described["status"] == "FAILED"
    history = world.client("stepfunctions").get_execution_history(executionArn=described["executionArn"])["events"]
    failed = [e for e in history if e["type"] == "TaskFailed"]
    assert failed and "lambda:InvokeFunction" in json.dumps(failed[0], default=str)
    assert world.messages("approvals") == [] and world.production_target() == world.ids["Code1"]
