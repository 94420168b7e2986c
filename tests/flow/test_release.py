"""The real statemachines/ definition executed in moto's interpreter, every task running real handler code."""

from __future__ import annotations

import json

import pytest

from tests.support.approve import approval_link, decide, request
from tests.support.world import World

pytestmark = pytest.mark.flow


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
