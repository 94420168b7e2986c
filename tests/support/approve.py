"""Acting as an approver: read the mailed link, open it (GET), then submit the form (POST)."""

from __future__ import annotations

import re
from typing import Any

import approval_api
from release.settings import invocation_settings
from tests.support.world import World, http_event

LINK = re.compile(r"(https://\S+/approvals/([A-Za-z0-9_-]+))")


class Ctx:
    function_name = "approval-api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:approval-api"
    aws_request_id = "11111111-1111-1111-1111-111111111111"


def approval_link(world: World) -> tuple[dict[str, Any], str]:
    """The approval request message and the approval id in its link."""
    message = world.wait_for_message("approvals")
    match = LINK.search(message["Message"])
    assert match, message["Message"]
    return message, match.group(2)


def request(world: World, approval_id: str, method: str = "GET", form: dict[str, str] | None = None,
            source_ip: str = "198.51.100.7") -> dict[str, Any]:
    """Call the approval endpoint's handler with the function's environment, as API Gateway would."""
    with invocation_settings(world.environment()):  # this thread only: the process environment is shared
        response: dict[str, Any] = approval_api.handler(
            http_event(method, f"/approvals/{approval_id}", form, source_ip), Ctx())
    return response


def decide(world: World, approval_id: str, decision: str, name: str = "Ada Lovelace",
           reason: str = "") -> dict[str, Any]:
    return request(world, approval_id, "POST", {"decision": decision, "name": name, "reason": reason})
