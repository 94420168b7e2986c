"""Shared fixtures: every test runs against an in-process moto with the ASL interpreter enabled."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before any boto3 client or Powertools object exists: no real credentials, no X-Ray.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
})
for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(variable, None)
# No test reaches a package index: what pip installs comes from the wheels `make test` downloaded first.
_WHEELS = Path(__file__).resolve().parent.parent / os.environ.get("WHEELS", ".build/wheels")
os.environ.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": f"{_WHEELS / 'local'} {_WHEELS / 'lambda'}"})

from moto import mock_aws  # noqa: E402

from release import aws  # noqa: E402
from sandbox import lambda_runtime, moto_ext  # noqa: E402
from tests.support.world import World  # noqa: E402


@pytest.fixture(autouse=True)
def _environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    # Undo only what the test changed: a clear() would leave a moment with no credentials at all for
    # any thread still running (an execution's handlers, a server).
    for name in os.environ.keys() - saved.keys():
        del os.environ[name]
    os.environ.update({name: value for name, value in saved.items() if os.environ.get(name) != value})


@pytest.fixture
def mocked() -> Iterator[None]:
    moto_ext.install()
    lambda_runtime.install_in_process()
    moto_ext.reset()
    aws.client.cache_clear()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield
    aws.client.cache_clear()


@pytest.fixture
def world(mocked: None) -> World:
    return World().build()


class FakeContext:
    function_name = "test-function"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()
