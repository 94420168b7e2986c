"""The approval endpoint against moto: pages for every kind of link, and nothing changed by any of them."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest.mock import patch

import pytest
from botocore.exceptions import ClientError

from release import aws
from release.approval import ApprovalRecord, ApprovalStatus, approval_key
from release.exceptions import AwsTransientError
from release.gateways.approvals import ApprovalStore
from tests.support.approve import approval_link, decide, request
from tests.support.world import ACCOUNT, World


def stored(world: World, expires_in: int, execution_arn: str = "arn:exec") -> str:
    approval_id = secrets.token_urlsafe(32)
    now = int(time.time())
    ApprovalStore(world.ids["table"]).create(ApprovalRecord(
        approval_key(approval_id), "a-task-token", execution_arn, '{"action": "release"}', ApprovalStatus.PENDING,
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


def refusal(code: str, operation: str = "SendTaskSuccess") -> ClientError:
    """What Step Functions answers when it will not take a decision, for a reason a retry will not fix."""
    message = (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/shop-approval-api/shop-approval-api is not authorized "
               f"to perform: states:{operation} because no identity-based policy allows the states:{operation} action")
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    return ClientError(response, operation)


def status(world: World, approval_id: str) -> ApprovalStatus:
    record, _ = ApprovalStore(world.ids["table"]).open(approval_key(approval_id))  # the link's release record
    assert record is not None
    return record.status


@pytest.mark.parametrize(("decision", "method", "code", "outcome"), [
    ("approve", "send_task_success", "AccessDeniedException", "SUCCEEDED"),
    ("reject", "send_task_failure", "KmsAccessDeniedException", "FAILED"),
    ("approve", "send_task_success", "InvalidToken", "SUCCEEDED"),  # the release still runs: not proof it ended
])
def test_a_refused_delivery_reopens_the_link_and_the_next_attempt_delivers(
        world: World, decision: str, method: str, code: str, outcome: str) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    operation = "".join(part.title() for part in method.split("_"))  # send_task_failure: SendTaskFailure
    with patch.object(aws.client("stepfunctions"), method, side_effect=refusal(code, operation)):
        response = decide(world, approval_id, decision, reason="checked on :8080")
    assert response["statusCode"] == 502
    page = response["body"]
    assert "Decision not delivered" in page and f"refused it ({code})" in page and "works again" in page
    assert "run the release system" in page  # who fixes it
    assert ACCOUNT not in page  # AWS's message names the account and the role: the log has it, the page not
    assert status(world, approval_id) is ApprovalStatus.PENDING
    assert request(world, approval_id)["statusCode"] == 200  # the form is offered again
    assert world.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "RUNNING"

    assert decide(world, approval_id, decision, reason="checked on :8080")["statusCode"] == 200  # fault fixed
    assert world.wait(execution)["status"] == outcome


def test_a_release_that_has_ended_gets_no_longer_waiting_and_the_link_stays_closed(world: World) -> None:
    finished = world.start(world.request(approval={"required": False}))
    assert world.wait(finished)["status"] == "SUCCEEDED"
    approval_id = stored(world, expires_in=600, execution_arn=finished)  # its token: refused as invalid
    response = decide(world, approval_id, "approve")
    assert response["statusCode"] == 410 and "no longer waiting" in response["body"]
    assert status(world, approval_id) is ApprovalStatus.ENDED
    for method in ("GET", "POST"):  # recorded: the link says so from now on, and offers no form
        again = request(world, approval_id, method, {"decision": "approve", "name": "Ada"})
        assert again["statusCode"] == 410 and "no longer waiting" in again["body"]


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist"])
def test_a_closed_task_gets_no_longer_waiting(world: World, code: str) -> None:
    world.start(world.request())
    _, approval_id = approval_link(world)
    with patch.object(aws.client("stepfunctions"), "send_task_success", side_effect=refusal(code)):
        response = decide(world, approval_id, "approve")
    assert response["statusCode"] == 410 and "no longer waiting" in response["body"]
    assert status(world, approval_id) is ApprovalStatus.ENDED


def test_nothing_is_delivered_twice_when_a_refused_delivery_races_other_approvers(world: World) -> None:
    execution = world.start(world.request())
    _, approval_id = approval_link(world)
    sfn = aws.client("stepfunctions")
    deliver, delivered = sfn.send_task_success, []
    holding, refuse = threading.Event(), threading.Event()

    def send(**params: Any) -> Any:
        if not holding.is_set():  # the first attempt holds the claim until told to fail
            holding.set()
            refuse.wait(10)
            raise refusal("AccessDeniedException")
        delivered.append(params["taskToken"])
        return deliver(**params)

    with patch.object(sfn, "send_task_success", side_effect=send), ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(decide, world, approval_id, "approve", "approver 0")
        assert holding.wait(10)
        meanwhile = list(pool.map(lambda i: decide(world, approval_id, "approve", f"approver {i}")["statusCode"],
                                  (1, 2, 3)))
        refuse.set()
        assert first.result()["statusCode"] == 502
        after = list(pool.map(lambda i: decide(world, approval_id, "approve", f"approver {i}")["statusCode"],
                              range(4, 8)))
    assert meanwhile == [409, 409, 409]  # the claim was held: none of them sent anything
    assert sorted(after) == [200, 409, 409, 409]  # reopened: exactly one of them delivered
    assert len(delivered) == 1
    assert world.wait(execution)["status"] == "SUCCEEDED"
