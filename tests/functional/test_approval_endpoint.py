"""The approval endpoint against moto: pages for every kind of link, and nothing changed by any of them."""

from __future__ import annotations

import secrets
import time
from unittest.mock import patch

from release.approval import ApprovalRecord, ApprovalStatus, approval_key
from release.exceptions import AwsTransientError
from release.gateways.approvals import ApprovalStore
from tests.support.approve import approval_link, decide, request
from tests.support.world import World


def stored(world: World, expires_in: int) -> str:
    approval_id = secrets.token_urlsafe(32)
    now = int(time.time())
    ApprovalStore(world.ids["table"]).create(ApprovalRecord(
        approval_key(approval_id), "a-task-token", "arn:exec", '{"action": "release"}', ApprovalStatus.PENDING,
        now - 100, now + expires_in))
    return approval_id


def test_expired_link_gets_a_clear_page_and_changes_nothing(world: World) -> None:
    approval_id = stored(world, expires_in=-1)
    for method in ("GET", "POST"):
        response = request(world, approval_id, method, {"decision": "approve", "name": "Ada"})
        assert response["statusCode"] == 410 and "expired" in response["body"]
    item = ApprovalStore(world.ids["table"]).get(approval_key(approval_id))
    assert item is not None and item.status is ApprovalStatus.PENDING


def test_unknown_and_malformed_links_get_a_clear_page(world: World) -> None:
    for approval_id in (secrets.token_urlsafe(32), "short", "a" * 43 + "%2F"):
        response = request(world, approval_id)
        assert response["statusCode"] == 404 and "not valid" in response["body"]
        assert response["headers"]["Content-Type"].startswith("text/html")


def test_when_aws_does_not_answer_the_link_still_works_afterwards(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    with patch("release.gateways.workflow.Workflow.send_success", side_effect=AwsTransientError("503")):
        response = decide(world, approval_id, "approve")
    assert response["statusCode"] == 503 and "try again" in response["body"].lower()
    assert world.production_target() == world.ids["Code1"]
    assert decide(world, approval_id, "approve")["statusCode"] == 200
    assert world.wait(execution)["status"] == "SUCCEEDED"
