"""The sandbox's warm Lambda runtime keeps execution environments as Lambda does.

Each test deploys a small function to moto's Lambda and invokes it through the runtime the sandbox uses. The
function counts its invocations in module state and answers with its process id, so a warm start (same
process, count going on) is told from a cold one (new process, count from 1).
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction, lambda_backends

from sandbox import control, lambda_runtime, owners

ENDPOINT = "http://127.0.0.1:9"  # no call is made; nothing listens there
HANDLER = """
import os, time
COUNT = 0
print("initialising")
def handler(event, context):
    global COUNT
    COUNT += 1
    print("working", flush=True)
    time.sleep(event.get("sleep", 0))
    if event.get("exit"):
        os._exit(3)
    print("invocation", COUNT)
    return {"pid": os.getpid(), "count": COUNT, "greeting": os.environ.get("GREETING")}
"""
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "lambda.amazonaws.com"}}]}


def package(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("counter.py", source)
    return buffer.getvalue()


@pytest.fixture
def function() -> Iterator[LambdaFunction]:
    with mock_aws():
        iam, lam = boto3.client("iam", region_name="us-east-1"), boto3.client("lambda", region_name="us-east-1")
        role = iam.create_role(RoleName="counter", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        lam.create_function(FunctionName="counter", Runtime="python3.13", Role=role, Handler="counter.handler",
                            Code={"ZipFile": package(HANDLER)}, Timeout=2,
                            Environment={"Variables": {"GREETING": "hello"}})
        try:
            yield lambda_backends["123456789012"]["us-east-1"].get_function("counter")
        finally:
            lambda_runtime.reset()


def invoke(function: LambdaFunction, **event: Any) -> dict[str, Any]:
    payload, errored, _ = lambda_runtime._run_warm(function, event, ENDPOINT)
    return {"errored": errored, **json.loads(payload)}


def last_metrics(count: int) -> list[dict[str, Any]]:
    return lambda_runtime.INVOCATIONS[-count:]


def refreshed(function: LambdaFunction) -> LambdaFunction:
    fresh: LambdaFunction = lambda_backends["123456789012"]["us-east-1"].get_function(function.function_name)
    return fresh


def test_the_second_invocation_reuses_the_environment_and_its_module_state(function: LambdaFunction) -> None:
    first, second = invoke(function), invoke(function)
    assert second["pid"] == first["pid"] and (first["count"], second["count"]) == (1, 2)
    cold, warm = last_metrics(2)
    assert cold["cold"] is True and cold["initSeconds"] > 0
    assert warm["cold"] is False and warm["initSeconds"] is None and warm["handlerSeconds"] > 0


def test_the_logs_are_the_invocations_own_with_lambdas_report_lines(function: LambdaFunction) -> None:
    _, _, first = lambda_runtime._run_warm(function, {}, ENDPOINT)
    _, _, second = lambda_runtime._run_warm(function, {}, ENDPOINT)
    assert "initialising" in first and "invocation 1" in first and "Init Duration" in first
    assert "invocation 2" in second and "invocation 1" not in second and "Init Duration" not in second
    assert second.startswith("START RequestId: ") and "\nEND RequestId: " in second


def test_new_code_or_configuration_gets_a_new_environment(function: LambdaFunction) -> None:
    lam = boto3.client("lambda", region_name="us-east-1")
    before = invoke(function)
    lam.update_function_configuration(FunctionName="counter", Environment={"Variables": {"GREETING": "hi"}})
    after_configuration = invoke(refreshed(function))
    assert after_configuration["pid"] != before["pid"] and after_configuration["count"] == 1
    assert after_configuration["greeting"] == "hi" and not owners.process_runs(before["pid"])
    lam.update_function_code(FunctionName="counter", ZipFile=package(HANDLER.replace("COUNT = 0", "COUNT = 10")))
    after_code = invoke(refreshed(function))
    assert after_code["pid"] != after_configuration["pid"] and after_code["count"] == 11


def test_an_invocation_past_the_timeout_is_reported_and_its_environment_killed(function: LambdaFunction) -> None:
    before = invoke(function)
    timed_out = invoke(function, sleep=5)
    assert timed_out["errored"] and timed_out["errorType"] == lambda_runtime.TIMED_OUT
    assert timed_out["errorMessage"] == "Task timed out after 2 seconds"
    assert not owners.process_runs(before["pid"])
    _, _, logs = lambda_runtime._run_warm(function, {"sleep": 5}, ENDPOINT)
    assert "working" in logs and "Task timed out after 2.00 seconds" in logs  # what it logged before, then why
    after = invoke(function)
    assert after["pid"] != before["pid"] and after["count"] == 1 and last_metrics(1)[0]["cold"] is True


def test_an_environment_whose_process_dies_is_replaced(function: LambdaFunction) -> None:
    before = invoke(function)
    died = invoke(function, exit=True)
    assert died["errored"] and died["errorType"] == "Runtime.ExitError"
    after = invoke(function)
    assert after["pid"] != before["pid"] and after["count"] == 1


def concurrently(function: LambdaFunction, count: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(invoke(function, sleep=0.5))) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_invocations_get_environments_of_their_own(function: LambdaFunction) -> None:
    results = concurrently(function, 3)
    assert not any(r["errored"] for r in results)
    assert len({r["pid"] for r in results}) == 3


def test_concurrency_stops_at_the_functions_reserved_concurrency(function: LambdaFunction) -> None:
    boto3.client("lambda", region_name="us-east-1").put_function_concurrency(
        FunctionName="counter", ReservedConcurrentExecutions=2)
    results = concurrently(refreshed(function), 5)
    assert not any(r["errored"] for r in results)
    assert len({r["pid"] for r in results}) == 2
    assert sorted(r["count"] for r in results) == [1, 1, 2, 2, 3]  # the other three waited for a warm one


def test_idle_environments_are_reaped(function: LambdaFunction) -> None:
    pid = invoke(function)["pid"]
    pool = lambda_runtime._pool()
    pool.idle_seconds = 0
    pool.reap()  # or the pool's own reaper did, at its round: either way the environment is gone
    deadline = time.monotonic() + 5
    while owners.process_runs(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(pool) == 0 and not owners.process_runs(pid)


def test_stopping_the_sandbox_leaves_no_environment(function: LambdaFunction) -> None:
    busy = threading.Thread(target=lambda: invoke(function, sleep=1.5))
    busy.start()
    deadline = time.monotonic() + 10
    while not lambda_runtime._pool().pids() and time.monotonic() < deadline:  # the busy one has its environment
        time.sleep(0.01)
    idle = invoke(function)["pid"]
    pids = lambda_runtime._pool().pids()
    assert idle in pids and len(pids) == 2
    lambda_runtime.shutdown()
    busy.join()
    assert not any(owners.process_runs(pid) for pid in pids)


def test_a_function_with_reserved_concurrency_0_is_throttled_and_runs_nothing(function: LambdaFunction) -> None:
    boto3.client("lambda", region_name="us-east-1").put_function_concurrency(
        FunctionName="counter", ReservedConcurrentExecutions=0)
    throttled = invoke(refreshed(function))
    assert throttled["errored"] and throttled["errorType"] == "Lambda.TooManyRequestsException"
    assert lambda_runtime._pool().pids() == []


def test_after_the_sandbox_stopped_an_invocation_fails_and_starts_nothing(function: LambdaFunction) -> None:
    invoke(function)
    lambda_runtime.shutdown()
    late = invoke(function)
    assert late["errored"] and late["errorType"] == "Runtime.ExitError" and "stopping" in late["errorMessage"]
    assert lambda_runtime._pool().pids() == []


def test_environments_die_with_the_zygote_which_is_started_again(function: LambdaFunction) -> None:
    before = invoke(function)["pid"]
    zygote = lambda_runtime._pool().zygote._process
    assert zygote is not None
    zygote.kill()
    zygote.wait()
    deadline = time.monotonic() + 5
    while owners.process_runs(before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not owners.process_runs(before)
    after = invoke(function)
    assert not after["errored"] and after["pid"] != before and after["count"] == 1


def test_the_runtimes_deploy_py_accepts_are_the_sandboxs() -> None:
    assert control.LAMBDA_RUNTIMES[0] == "warm"  # the default, named first in deploy.py's error
    assert set(control.LAMBDA_RUNTIMES) == set(lambda_runtime.RUNTIMES)
