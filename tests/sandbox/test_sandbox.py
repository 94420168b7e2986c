"""The sandbox as a user meets it: `python3 deploy.py` commands, real HTTP through the local load balancer."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sandbox import load, owners
from tests.sandbox.cli import (
    ENDPOINT_PORT,
    PRODUCTION,
    ROOT,
    SECOND,
    STATE,
    TEST,
    WEB,
    WEB_PORT,
    deploy,
    inbox,
    port_open,
    status,
    version,
)
from tests.sandbox.cli import env as _env

pytestmark = pytest.mark.sandbox


def steady_load(threads: int = 6) -> contextlib.AbstractContextManager[Counter[int | str]]:
    """Clients requesting production non-stop while the block runs; counts each answer's status."""
    return load.steady_load(PRODUCTION, threads)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[subprocess.CompletedProcess[str]]:
    deploy("down")
    started = deploy("--production-port", str(PRODUCTION), "--test-port", str(TEST))
    yield started
    deploy("down")


def test_bootstrap_from_nothing_serves_the_initial_version(sandbox: subprocess.CompletedProcess[str]) -> None:
    assert sandbox.returncode == 0, sandbox.stdout + sandbox.stderr
    assert f"production serves at http://127.0.0.1:{PRODUCTION}/" in sandbox.stdout
    assert "inbox" in sandbox.stdout and "Next: python3 deploy.py release" in sandbox.stdout
    assert version(PRODUCTION) == "v1" and version(TEST) == "v1"
    again = deploy()
    assert again.returncode == 0 and "reusing the sandbox" in again.stdout and "Nothing changed" in again.stdout


def test_approved_release_moves_production_and_swaps_tags(sandbox: Any) -> None:
    result = deploy("release", "--image", "sample-app:v2", "--approve", "--health-interval", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert version(PRODUCTION) == "v2" and version(TEST) == "v1"
    sides = {s["role"]: s for s in status()["sides"]}
    assert sides["live"]["images"] == ["sample-app:v2"] and sides["live"]["targetGroup"] == "shop-code2"
    assert status()["tagProblems"] == []
    again = deploy()  # the stacks follow the live side: updating them moves no traffic
    assert again.returncode == 0, again.stdout + again.stderr
    assert version(PRODUCTION) == "v2" and version(TEST) == "v1" and status()["tagProblems"] == []


def test_broken_version_is_stopped_before_approval(sandbox: Any) -> None:
    """With the default health settings (a 600 s deadline): ECS stops the tasks failing their health checks, and
    the fast gate stops the release after three consecutive failing checks."""
    before = len(inbox())
    started = time.monotonic()
    result = deploy("release", "--image", "sample-app:v3-broken", "--approve")
    took = time.monotonic() - started
    print(f"broken release stopped after {took:.1f} s")
    assert result.returncode != 0
    assert "GreenUnhealthy" in result.stdout and "waiting will not fix it" in result.stdout, result.stdout
    assert "Task failed ELB health checks in (target-group" in result.stdout  # the stopped tasks' reasons
    assert took < 60
    assert version(PRODUCTION) == "v2"
    subjects = [m["subject"] for m in inbox()[before:]]
    assert not any(s.startswith("Approve?") for s in subjects)  # nobody was asked to approve it
    assert any("GreenUnhealthy" in s for s in subjects)


def test_rejected_release_leaves_production(sandbox: Any) -> None:
    result = deploy("release", "--image", "sample-app:v3", "--reject", "--reason", "copy is wrong",
                    "--health-interval", "2")
    assert result.returncode != 0 and "ApprovalRejected" in result.stdout
    assert version(PRODUCTION) == "v2" and version(TEST) == "v3"  # green keeps the rejected version for review


def test_release_whose_approval_times_out_leaves_production(sandbox: Any) -> None:
    result = deploy("release", "--image", "sample-app:v4", "--approval-timeout", "2", "--health-interval", "2")
    assert result.returncode != 0 and "ApprovalTimedOut" in result.stdout
    assert version(PRODUCTION) == "v2"


def test_approval_from_the_inbox_link_get_then_post_as_a_browser(sandbox: Any) -> None:
    before = len(inbox())
    process = subprocess.Popen([sys.executable, str(ROOT / "deploy.py"), "release", "--image", "sample-app:v5",
                                "--health-interval", "2"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    link = None
    deadline = time.monotonic() + 60
    while link is None and time.monotonic() < deadline:
        requests = [m for m in inbox()[before:] if m["subject"].startswith("Approve?")]
        link = next((u for m in requests for u in m["links"] if "/approvals/" in u), None)
        time.sleep(0.5)
    assert link, "no approval request arrived in the inbox"
    with urllib.request.urlopen(link, timeout=10) as page:  # what a mail scanner does: changes nothing
        html = page.read().decode()
    assert 'method="post"' in html and "sample-app:v5" in html

    def scan(_: int) -> int:
        with urllib.request.urlopen(link, timeout=60) as page:
            return int(page.status)

    with ThreadPoolExecutor(max_workers=12) as pool:  # a burst of scanners and link previews at once
        assert set(pool.map(scan, range(12))) == {200}
    time.sleep(1)
    assert version(PRODUCTION) == "v2"
    assert any(r["step"] == "Ask for approval" for r in status()["releases"])  # still waiting for a human
    form = urllib.parse.urlencode({"decision": "approve", "name": "Ada Lovelace", "reason": "checked :8080"})
    request = urllib.request.Request(link, data=form.encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        # the decision records the address the link was mailed to, and the name typed as a note
        assert answer.status == 200
        assert "Approved by operators@sandbox.invalid (as Ada Lovelace)" in answer.read().decode()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert version(PRODUCTION) == "v5"
    try:  # the link is single-use
        urllib.request.urlopen(urllib.request.Request(link, data=form.encode(), method="POST"), timeout=10)
        replay_status = 200
    except urllib.error.HTTPError as exc:
        replay_status = exc.code
    assert replay_status == 409


def test_rollback_puts_the_previous_version_back_with_no_failed_request(sandbox: Any) -> None:
    with steady_load() as statuses:
        result = deploy("rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert version(PRODUCTION) == "v2" and version(TEST) == "v5"
    assert statuses[200] == sum(statuses.values()) > 50, statuses


def test_no_request_fails_while_traffic_moves_under_steady_load(sandbox: Any) -> None:
    started = time.monotonic()
    with steady_load(threads=8) as statuses:
        result = deploy("release", "--image", "sample-app:v6", "--approve", "--health-interval", "2")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    total = sum(statuses.values())
    assert statuses[200] == total, statuses
    assert total / elapsed > 100, f"only {total / elapsed:.0f} requests/s: the load was not steady"
    assert version(PRODUCTION) == "v6"


@pytest.mark.parametrize(("flags", "named"), [
    (["--strategy", "canary:150:1"], "--strategy"),
    (["--bake", "-5"], "--bake"),
    (["--check-interval", "0"], "--check-interval"),
    (["--approval-timeout", "0"], "--approval-timeout"),
])
def test_bad_release_input_is_named_and_green_untouched(sandbox: Any, flags: list[str], named: str) -> None:
    before = {s["role"]: s["images"] for s in status()["sides"]}
    result = deploy("release", "--image", "sample-app:never", *flags)
    assert result.returncode == 2 and named in result.stderr and "Nothing was changed" in result.stderr
    assert {s["role"]: s["images"] for s in status()["sides"]} == before


def test_a_release_while_another_waits_for_approval_changes_nothing(sandbox: Any) -> None:
    process = subprocess.Popen([sys.executable, str(ROOT / "deploy.py"), "release", "--image", "sample-app:v7",
                                "--health-interval", "2"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(r["step"] == "Ask for approval" for r in status()["releases"]):
        time.sleep(0.5)
    second = deploy("release", "--image", "sample-app:v8", "--approve")
    assert second.returncode == 2 and "ReleaseInProgress" in second.stderr
    assert {s["role"]: s["images"] for s in status()["sides"]}["test"] == ["sample-app:v7"]  # green untouched
    assert deploy("reject", "--reason", "testing the lock").returncode == 0
    process.communicate(timeout=60)
    assert process.returncode != 0 and version(PRODUCTION) == "v6"


def sandbox_client(service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{ENDPOINT_PORT}", region_name="us-east-1",  # type: ignore[call-overload]
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def test_the_load_balancer_honours_weights(sandbox: Any) -> None:
    elbv2 = sandbox_client("elbv2")
    live = {s["role"]: s for s in status()["sides"]}
    groups = {g["TargetGroupName"]: g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]}
    listener = next(li for lb in elbv2.describe_load_balancers()["LoadBalancers"]
                    for li in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
                    if li["Port"] == PRODUCTION)
    blue, green = groups[live["live"]["targetGroup"]], groups[live["test"]["targetGroup"]]
    elbv2.modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": blue, "Weight": 90}, {"TargetGroupArn": green, "Weight": 10}]}}])
    try:
        versions = Counter(version(PRODUCTION) for _ in range(3000))
    finally:
        elbv2.modify_listener(ListenerArn=listener["ListenerArn"],
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}])
    green_share = versions[live["test"]["images"][0].split(":")[1]] / 3000
    print(f"weighted 90/10 over 3000 requests: green got {green_share:.1%}")
    assert abs(green_share - 0.10) < 0.03, versions


def test_canary_under_load_then_an_alarm_rolls_the_next_release_back(sandbox: Any) -> None:
    cloudwatch = sandbox_client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="shop-5xx", MetricName="HTTPCode_Target_5XX_Count",
                                Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                                Threshold=5, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="shop-5xx", StateValue="OK", StateReason="quiet")
    with steady_load() as statuses:
        ok = deploy("release", "--image", "sample-app:v9", "--approve", "--strategy", "canary:20:0.05",
                    "--bake", "2", "--alarm", "shop-5xx", "--check-interval", "1", "--health-interval", "2")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Shift traffic" in ok.stdout and "Watch green" in ok.stdout and "Watch production" in ok.stdout
    assert statuses[200] == sum(statuses.values()), statuses
    assert version(PRODUCTION) == "v9"

    process = subprocess.Popen([sys.executable, str(ROOT / "deploy.py"), "release", "--image", "sample-app:v10",
                                "--approve", "--strategy", "canary:20:1", "--alarm", "shop-5xx",
                                "--check-interval", "1", "--health-interval", "2"],
                               cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(r["step"] in ("Watch green", "Wait before watching again")
                                                  for r in status()["releases"]):
        time.sleep(0.3)
    with steady_load() as statuses:  # the rollback, too, must not fail a request
        fired = time.monotonic()
        cloudwatch.set_alarm_state(AlarmName="shop-5xx", StateValue="ALARM", StateReason="5xx above 5")
        while time.monotonic() < deadline and Counter(version(PRODUCTION) for _ in range(20))["v10"]:
            time.sleep(0.1)
        back_on_blue = time.monotonic() - fired
        time.sleep(1)
    out, err = process.communicate(timeout=60)
    print(f"alarm to traffic back on blue: {back_on_blue:.1f} s")
    assert process.returncode != 0 and "RolledBack" in out, out + err
    assert "shop-5xx" in out and version(PRODUCTION) == "v9"
    assert back_on_blue < 10
    assert statuses[200] == sum(statuses.values()) > 50, statuses


@pytest.mark.parametrize(("image", "metric"), [("sample-app:v12-errors", "5XX rate"),
                                              ("sample-app:v13-slow", "latency")])
def test_a_canary_that_passes_health_checks_but_serves_worse_is_rolled_back_by_the_judge(
        sandbox: Any, image: str, metric: str) -> None:
    production = version(PRODUCTION)
    before = len(inbox())
    with steady_load() as statuses:
        started = time.monotonic()
        result = deploy("release", "--image", image, "--approve", "--strategy", "canary:20:1", "--bake", "0",
                        "--check-interval", "1", "--health-interval", "2")
        took = time.monotonic() - started
    print(f"{image}: rolled back after {took:.1f} s (release included)")
    assert result.returncode != 0 and "RolledBack" in result.stdout, result.stdout + result.stderr
    assert f"the judge found green worse than blue on {metric}" in result.stdout, result.stdout
    assert "against blue's" in result.stdout and "p = " in result.stdout  # both sides' figures and the test
    assert took < 60  # well before the canary's minute was over
    assert version(PRODUCTION) == production
    total = sum(statuses.values())
    assert set(statuses) <= {200, 500}, statuses  # no answer of the load balancer's own (502, 503)
    assert statuses[500] <= 0.2 * 0.1 * total, statuses  # only the canary's share of about 5%
    message = next(m for m in inbox()[before:] if m["subject"].startswith("Release rolled back"))
    assert f"worse than blue on {metric}" in message["message"] and "\"verdict\": \"fail\"" in message["message"]


def test_linear_release_under_load_fails_no_request(sandbox: Any) -> None:
    with steady_load() as statuses:
        result = deploy("release", "--image", "sample-app:v11", "--approve", "--strategy", "linear:50:0.05",
                        "--bake", "0", "--health-interval", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("-> Shift traffic") == 2  # to 50 %, then the step that hands over to the swap
    assert version(PRODUCTION) == "v11"
    assert statuses[200] == sum(statuses.values()) > 50, statuses


def test_a_second_system_runs_beside_the_first_on_its_own_ports(sandbox: Any) -> None:
    production_before = version(PRODUCTION)
    refused = deploy("up", "--name", "second", "--production-port", str(PRODUCTION), "--test-port", str(TEST))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"ports {PRODUCTION} and {TEST} are taken" in refused.stderr and "Nothing was changed" in refused.stderr
    assert deploy("status", "--name", "second").returncode != 0  # no such system was created

    started = deploy("up", "--name", "second", "--production-port", str(SECOND[0]), "--test-port", str(SECOND[1]),
                     "--strategy", "canary:20:1", "--bake-seconds", "7", "--image", "sample-app:s1")
    assert started.returncode == 0, started.stdout + started.stderr
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in sandbox_client("cloudformation").describe_stacks(
        StackName="second")["Stacks"][0]["Parameters"]}
    assert (parameters["Strategy"], parameters["BakeSeconds"]) == ("canary:20:1", "7")  # every flag honoured
    assert version(SECOND[0]) == "s1"
    assert f"production serves at http://127.0.0.1:{SECOND[0]}/" in started.stdout
    with urllib.request.urlopen(f"{WEB}/metrics.json", timeout=5) as response:
        seen = len(json.loads(response.read()))
    result = deploy("release", "--name", "second", "--image", "sample-app:s2", "--approve", "--bake", "0",
                    "--health-interval", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert version(SECOND[0]) == "s2" and version(PRODUCTION) == production_before

    with urllib.request.urlopen(f"{WEB}/metrics.json", timeout=5) as response:
        invocations = json.loads(response.read())[seen:]
    swaps = [i for i in invocations if i["function"] == "second-swap-traffic"]
    assert len(swaps) == 1 and swaps[0]["calls"]["elbv2:ModifyListener"] == 2  # both listeners, once each
    assert all(i["function"].startswith("second-") for i in invocations)

    updated = deploy("up", "--name", "second")  # an update keeps the system's own ports
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert f"production serves at http://127.0.0.1:{SECOND[0]}/" in updated.stdout
    assert version(SECOND[0]) == "s2" and version(PRODUCTION) == production_before


@pytest.mark.parametrize(("flags", "words"), [
    (["--certificate-arn", "arn:aws:acm:us-east-1:123456789012:certificate/x"], "serves plain HTTP on loopback"),
    (["--connection-arn", "arn:aws:codeconnections:us-east-1:123456789012:connection/x", "--repository", "o/r"],
     "the sandbox's own connection"),
    (["--test-cidr", "203.0.113.0/24"], "only a loopback CIDR"),
    (["--launch-type", "EC2"], "every task as a local process"),
    (["--region", "eu-west-1"], "go with --aws"),
])
def test_a_flag_the_sandbox_cannot_honour_is_refused_not_ignored(sandbox: Any, flags: list[str], words: str) -> None:
    result = deploy("up", "--name", "third", *flags)
    assert result.returncode == 2 and words in result.stderr and "Nothing was changed" in result.stderr
    assert deploy("status", "--name", "third").returncode != 0  # nothing was created


def test_down_leaves_no_process_and_no_port(sandbox: Any) -> None:
    with urllib.request.urlopen(f"{WEB}/tasks.json", timeout=5) as response:
        pids = [t["pid"] for t in json.loads(response.read())]
    server_pid = json.loads((STATE / "server.json").read_text())["pid"]
    assert pids
    assert _task_processes(b"sandbox.lambda_worker"), "no warm Lambda environment after the releases"
    result = deploy("down")
    assert result.returncode == 0 and "stopped" in result.stdout
    for pid in [*pids, server_pid]:
        assert not owners.process_runs(pid)
    for port in (ENDPOINT_PORT, WEB_PORT, PRODUCTION, TEST, *SECOND):
        assert not port_open(port), f"port {port} still open"
    assert not STATE.exists()
    assert _task_processes() == [], "a task outlived the sandbox"
    assert _task_processes(b"sandbox.lambda_worker") == [], "a Lambda environment outlived the sandbox"


def _task_processes(marker: bytes = b"sandbox.webapp") -> list[int]:
    """Processes started from this checkout (by default the sandbox's ECS tasks; the Lambda runtime's with
    b"sandbox.lambda_worker"), alive or not reaped."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            if owners.process_runs(int(proc.name)) and marker in command and Path(proc / "cwd").resolve() == ROOT:
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def test_a_killed_sandbox_leaves_no_task_behind_after_a_restart_or_down() -> None:
    """`kill -9` of the sandbox's server: its tasks keep running, holding their addresses. A restart stops them
    (and says the state is restored); so does `down`."""
    started = deploy("--production-port", str(PRODUCTION), "--test-port", str(TEST))
    assert started.returncode == 0, started.stdout + started.stderr
    first = _task_processes()
    assert len(first) == 4  # two tasks per side
    os.kill(json.loads((STATE / "server.json").read_text())["pid"], signal.SIGKILL)
    assert _task_processes() == first  # the tasks outlive their sandbox

    restarted = deploy("--production-port", str(PRODUCTION), "--test-port", str(TEST))
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "ended without `python3 deploy.py down`: stopped 4 task process(es)" in restarted.stdout
    assert "its state saved at" in restarted.stdout and "is restored" in restarted.stdout
    assert version(PRODUCTION) == "v1"
    now = _task_processes()
    assert len(now) == 4 and not set(now) & set(first)  # the old tasks stopped, none doubled

    os.kill(json.loads((STATE / "server.json").read_text())["pid"], signal.SIGKILL)
    result = deploy("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _task_processes() == [], "a task outlived the sandbox"
    for port in (ENDPOINT_PORT, WEB_PORT, PRODUCTION, TEST):
        assert not port_open(port), f"port {port} still open"
    assert not STATE.exists()
