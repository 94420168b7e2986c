"""A scripted lifecycle hook for flow tests: answers what the test says, records what it was told.

The world deploys it as a Lambda function (its handler is this module) that the state machine invokes like any
hook; the in-process runtime shares this module with the test, so the script and the record are plain lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Answer = dict[str, Any] | Callable[[dict[str, Any]], Any] | Any


@dataclass
class Script:
    answers: list[Answer] = field(default_factory=list)  # one per call; the last one repeats
    calls: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (monotonic time, payload)


SCRIPTS: dict[str, Script] = {}


def handler(event: dict[str, Any], context: Any) -> Any:
    script = SCRIPTS[context.function_name]
    script.calls.append((time.monotonic(), event))
    answer = script.answers[min(len(script.calls), len(script.answers)) - 1]
    return answer(event) if callable(answer) else answer
