"""Tracing where Powertools would trace, and nowhere else: outside Lambda the X-Ray SDK is never imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from release.observability import Untraced, tracing_on

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import sys, discover, approval_api; from release.observability import tracer; " \
        "print(type(tracer).__name__, 'aws_xray_sdk' in sys.modules)"


def imported(**environ: str) -> str:
    """What a handler's import gives, in a fresh interpreter with `environ` (nothing of this process's)."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "handlers"), "AWS_REGION": "us-east-1", **environ}
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True,
                          cwd=ROOT).stdout.strip()


def test_outside_lambda_the_handlers_never_load_the_xray_sdk() -> None:
    assert imported() == "Untraced False"
    assert imported(LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true") == "Untraced False"


def test_in_lambda_the_handlers_are_traced() -> None:
    assert imported(LAMBDA_TASK_ROOT="/var/task", AWS_LAMBDA_FUNCTION_NAME="shop-discover") == "Tracer True"


@pytest.mark.parametrize(("environ", "on"), [
    ({}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "True"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
])
def test_the_rule_is_powertools_own(environ: dict[str, str], on: bool) -> None:
    assert tracing_on(environ) is on


def test_the_untraced_decorators_leave_the_function_as_it_is() -> None:
    def handler(event: object, context: object) -> str:
        return "done"

    untraced = Untraced()
    assert untraced.capture_lambda_handler(handler) is handler
    assert untraced.capture_method(capture_response=False)(handler) is handler
    assert handler({}, None) == "done"
