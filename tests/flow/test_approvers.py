"""Each approver gets a link of their own, and the decision records the address that link was sent to."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.approve import LINK, decide, request
from tests.support.world import World

pytestmark = pytest.mark.flow
ADA, GRACE = "ada@example.com", "grace@example.com"


@pytest.fixture
def team(mocked: None) -> World:
    return World(approvers=(ADA, GRACE)).build()


def link_of(team: World, approver: str) -> str:
    message = team.wait_for_message(f"approver:{approver}")
    assert team.messages(f"approver:{approver}") == []  # one message each
    assert message["MessageAttributes"]["approver"]["Value"] == approver
    match = LINK.search(message["Message"])
    assert match, message["Message"]
    return match.group(2)


def test_each_approver_gets_an_own_link_and_one_decision_decides_for_all(team: World) -> None:
    execution = team.start(team.request())
    ada, grace = link_of(team, ADA), link_of(team, GRACE)
    assert ada != grace
    assert request(team, grace)["statusCode"] == 200  # both links wait for a decision

    decided = decide(team, ada, "approve", name="Ada L.", reason="checked on :8080")
    assert decided["statusCode"] == 200, decided["body"]
    described = team.wait(execution)
    assert described["status"] == "SUCCEEDED"
    approval = json.loads(described["output"])["approval"]
    assert (approval["approver"], approval["note"]) == (ADA, "Ada L.")
    assert approval["approvedBy"] == f"{ADA} (as Ada L.)"

    # Grace's link now shows who decided, and changes nothing
    page = request(team, grace)
    assert page["statusCode"] == 409
    assert re.search(r"already approved by ada@example\.com \(as Ada L\.\)", page["body"])
    again = decide(team, grace, "reject", name="Grace H.", reason="too late")
    assert again["statusCode"] == 409 and "Ada L." in again["body"]
    assert team.production_target() == team.ids["Code2"]
    assert "approved by ada@example.com (as Ada L.)" in team.wait_for_message("notifications")["Message"]


def test_a_rejection_records_the_approvers_address(team: World) -> None:
    execution = team.start(team.request())
    link_of(team, ADA)
    grace = link_of(team, GRACE)
    decide(team, grace, "reject", name="Grace H.", reason="the test URL shows v1")
    described = team.wait(execution)
    assert described["error"] == "ApprovalRejected"
    assert "rejected by grace@example.com (as Grace H.): the test URL shows v1" in described["cause"]
    items = team.client("dynamodb").scan(TableName=team.ids["table"])["Items"]
    [record] = [i for i in items if "taskToken" in i]
    assert (record["approver"]["S"], record["decidedBy"]["S"]) == (GRACE, "Grace H.")
    links = [i for i in items if "approvalRef" in i]
    assert sorted(i["approver"]["S"] for i in links) == [ADA, GRACE]
    assert all("taskToken" not in i for i in links)  # a link's item holds no token
