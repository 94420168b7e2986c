"""The in-process Lambda runner gives each invocation its function's variables without touching os.environ.

The flow tests' handlers run in moto's threads while the test's own thread reads the environment
(the approval endpoint, boto3); a runner that set and restored os.environ pulled variables from
under it.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from typing import Any

import pytest

from release.gateways.approvals import ApprovalStore
from tests.support.world import World, http_event

HOST_TABLE = "the-test-process-own-table"  # differs from the function's, so a leak either way shows


def open_unknown_link(world: World) -> dict[str, Any]:
    """The approval function's page for a link nobody was sent: it must read its own table to say so."""
    event = http_event("GET", f"/approvals/{secrets.token_urlsafe(32)}")
    answer = world.client("lambda").invoke(FunctionName=world.ids["approval_api"], Payload=json.dumps(event).encode())
    payload: dict[str, Any] = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    return payload


def test_the_handler_reads_its_own_variables_and_os_environ_stays_as_it_was(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVALS_TABLE", HOST_TABLE)
    before = dict(os.environ)
    during: list[dict[str, str]] = []
    original_get = ApprovalStore.open

    def get_and_look(self: ApprovalStore, key: str) -> Any:
        during.append(dict(os.environ))  # what any other thread would see while the handler runs
        return original_get(self, key)

    monkeypatch.setattr(ApprovalStore, "open", get_and_look)
    assert open_unknown_link(world)["statusCode"] == 404  # read shop-approvals: the host's table does not exist
    assert len(during) == 1 and during[0] == before
    assert dict(os.environ) == before


def test_a_thread_reading_os_environ_never_sees_an_invocation(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVALS_TABLE", HOST_TABLE)
    statuses: list[int] = []

    def invoke_repeatedly() -> None:  # as moto's Step Functions interpreter does, in its own thread
        statuses.extend(open_unknown_link(world)["statusCode"] for _ in range(20))

    invoker = threading.Thread(target=invoke_repeatedly)
    invoker.start()
    seen: set[str | None] = set()
    reads = 0
    while invoker.is_alive() or reads == 0:
        seen.add(os.environ.get("APPROVALS_TABLE"))
        reads += 1
    invoker.join(timeout=60)
    assert statuses == [404] * 20
    assert seen == {HOST_TABLE}, f"os.environ changed under a reader ({reads} reads)"
