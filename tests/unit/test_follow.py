"""`deploy.py release` following an execution: paged history, backoff while nothing moves, one describe at the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from deployer.console import Console
from deployer.releases import Backoff, System, follow
from deployer.settings import Settings

START = datetime(2026, 1, 1, tzinfo=UTC)


def entered(number: int, name: str) -> dict[str, Any]:
    return {"id": number, "type": "TaskStateEntered", "timestamp": START + timedelta(seconds=number),
            "stateEnteredEventDetails": {"name": name}}


class Paginator:
    def __init__(self, pages: list[list[dict[str, Any]]], calls: list[dict[str, Any]]) -> None:
        self.pages, self.calls = pages, calls

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        return [{"events": page} for page in self.pages]


class StepFunctions:
    """An execution whose history grows on a script: what each poll sees."""

    def __init__(self, script: list[list[dict[str, Any]]]) -> None:
        self.script, self.polls, self.described = script, 0, 0
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> Paginator:
        assert name == "get_execution_history"
        events = self.script[min(self.polls, len(self.script) - 1)]
        self.polls += 1
        return Paginator([events[:2], events[2:]], self.calls)  # two pages: both are read

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.described += 1
        return {"status": "SUCCEEDED", "output": "{}", "startDate": START, "stopDate": START + timedelta(seconds=9)}


class FakeTarget:
    def __init__(self, sfn: StepFunctions) -> None:
        self.sfn = sfn

    def client(self, service: str) -> Any:
        return self.sfn


def test_follow_backs_off_while_nothing_moves_and_describes_once_at_the_end() -> None:
    first = [entered(1, "Discover"), entered(2, "Take the lock"), entered(3, "Is green healthy?")]
    bake = [*first, entered(4, "Bake")]
    done = [*bake, {"id": 5, "type": "ExecutionSucceeded", "timestamp": START + timedelta(seconds=9)}]
    sfn = StepFunctions([first, bake, bake, bake, bake, done])
    slept: list[float] = []
    system = System(FakeTarget(sfn), Settings(), {})  # type: ignore[arg-type]
    run = follow(system, Console(), "arn:execution", sleep=slept.append, backoff=Backoff(first=1, factor=2, most=3))
    assert run.status == "SUCCEEDED" and run.steps == ["Discover", "Take the lock", "Is green healthy?", "Bake"]
    assert slept == [1, 1, 2, 3, 3]  # reset when the execution moved, then longer while it waits, capped
    assert sfn.described == 1  # one DescribeExecution, when the history shows the end
    assert all(call["includeExecutionData"] is False for call in sfn.calls)
