from __future__ import annotations

import json
from typing import Any

import pytest

from release.report import compute_outcome, error_message

STATE: dict[str, Any] = {
    "config": {"action": "release", "loadBalancer": "shop-alb"},
    "topology": {"loadBalancerName": "shop-alb", "green": {"service": {"serviceName": "shop-code2",
                                                                       "images": ["web:2"]}}},
}
PRODUCTION = {"targetGroupName": "shop-code1", "images": ["web:1"]}


def lambda_error(name: str, message: str) -> dict[str, str]:
    return {"Error": name, "Cause": json.dumps({"errorType": name, "errorMessage": message,
                                                "stackTrace": ["  File secret.py"]})}


def test_success_names_the_new_version_and_the_approver() -> None:
    outcome = compute_outcome({**STATE, "approval": {"approvedBy": "Ada"}}, None, PRODUCTION)
    assert outcome["status"] == "SUCCEEDED" and outcome["error"] is None
    assert "production now serves shop-code2 (web:2), approved by Ada" in outcome["message"]


@pytest.mark.parametrize(("step", "error", "status", "name", "words"), [
    ("approval", {"Error": "States.Timeout", "Cause": ""}, "TIMED_OUT", "ApprovalTimedOut", "not approved in time"),
    ("approval", {"Error": "ApprovalRejected", "Cause": json.dumps({"rejectedBy": "Grace", "reason": "5xx"})},
     "REJECTED", "ApprovalRejected", "rejected by Grace: 5xx"),
    ("health", lambda_error("GreenUnhealthy", "2 of 2 targets not healthy"), "FAILED", "GreenUnhealthy",
     "while checking green's health with GreenUnhealthy: 2 of 2 targets not healthy"),
    ("discover", lambda_error("InvalidInput", "'cluster' is required"), "FAILED", "InvalidInput",
     "'cluster' is required"),
])
def test_failures_are_classified_and_say_production_is_unchanged(step: str, error: dict[str, str], status: str,
                                                                 name: str, words: str) -> None:
    outcome = compute_outcome({**STATE, "error": error}, step, PRODUCTION)
    assert (outcome["status"], outcome["error"], outcome["failedStep"]) == (status, name, step)
    assert words in outcome["message"]
    assert "Production is unchanged" in outcome["message"]
    assert "now forwards to shop-code1 (web:1)" in outcome["message"]
    assert "secret.py" not in json.dumps(outcome)  # stack traces stay in the logs


def test_a_failed_swap_does_not_claim_production_is_unchanged() -> None:
    outcome = compute_outcome({**STATE, "error": lambda_error("AwsTransientError", "503")}, "swap",
                              {"targetGroupName": "shop-code2", "images": ["web:2"]})
    assert "Production is unchanged" not in outcome["message"]
    assert "now forwards to shop-code2 (web:2)" in outcome["message"]


def test_error_message_falls_back_to_the_raw_cause() -> None:
    assert error_message({"Error": "X", "Cause": "plain words"}) == "plain words"
    assert error_message(None) == ""
