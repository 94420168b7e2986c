"""What every benchmark needs: `deploy.py` as a user runs it, the sandbox's AWS, its inbox and its metrics."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT = "http://127.0.0.1:4566"
WEB = "http://127.0.0.1:9000"
LINK = re.compile(r"(http://127\.0\.0\.1:9000/approvals/[A-Za-z0-9_-]+)")


def deploy(*args: str, timeout: float = 900) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "deploy.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=timeout)
    return time.perf_counter() - started, done


def deploy_ok(*args: str) -> tuple[float, dict[str, Any]]:
    """Run a `deploy.py ... --json` command that must succeed; its JSON result."""
    seconds, done = deploy(*args, "--json")
    if done.returncode != 0:
        raise RuntimeError(f"deploy.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def start_deploy(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "deploy.py"), *args, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish(process: subprocess.Popen[str], timeout: float = 900) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"deploy.py failed ({process.returncode}):\n{out}\n{err}")
    result: dict[str, Any] = json.loads(out)
    return result


def finish_any(process: subprocess.Popen[str], timeout: float = 900) -> int:
    """Wait for a command whose failure is expected (a rejected or rolled-back release)."""
    process.communicate(timeout=timeout)
    return int(process.returncode)


def client(service: str) -> Any:
    return boto3.client(service, endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="sandbox",
                        aws_secret_access_key="sandbox")  # type: ignore[call-overload]  # noqa: S106 - fixed local keys


def get_json(path: str) -> Any:
    with urllib.request.urlopen(f"{WEB}{path}", timeout=10) as response:
        return json.loads(response.read())


def wait_for(check: Callable[[], Any], timeout: float, poll: float = 0.05, what: str = "a condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def approval_link(after: int, process: subprocess.Popen[str], system: str = "shop", timeout: float = 120) -> str:
    """The link in the first approval request for `system` that arrived after the first `after` messages."""
    def find() -> str | None:
        if process.poll() is not None:
            finish(process)  # raises with its output if it failed
            raise RuntimeError("the release ended without asking for approval")
        for message in get_json("/inbox.json")[after:]:
            if message["subject"].startswith("Approve?") and f" {system}-" in message["subject"]:
                return next((link for link in message["links"] if LINK.fullmatch(link)), None)
        return None

    link: str = wait_for(find, timeout, what="an approval request in the inbox")
    return link


def approve(link: str) -> int:
    """As an approver: open the link (GET shows the form), then submit it (POST)."""
    urllib.request.urlopen(link, timeout=10).close()
    return decide(link, "approve", "benchmark")


def decide(link: str, decision: str, reason: str) -> int:
    """Submit the approval page's form."""
    form = urllib.parse.urlencode({"decision": decision, "name": "Bench", "reason": reason}).encode()
    request = urllib.request.Request(link, data=form, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def forward_targets(load_balancer: str, port: int) -> tuple[str, ...]:
    """The target groups (names) the listener on `port` forwards to, weight > 0 first."""
    elbv2 = client("elbv2")
    arn = elbv2.describe_load_balancers(Names=[load_balancer])["LoadBalancers"][0]["LoadBalancerArn"]
    for listener in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
        if listener["Port"] == port:
            action = listener["DefaultActions"][0]
            groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
                {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
            live = sorted(groups, key=lambda g: -int(g.get("Weight", 1)))
            return tuple(g["TargetGroupArn"].split("/")[-2] for g in live if int(g.get("Weight", 1)) > 0)
    raise LookupError(f"no listener on port {port}")


def states_entered(execution_arn: str) -> Counter[str]:
    """How many times each state was entered, from the execution's history. Their sum is the number of
    state transitions, what Step Functions bills."""
    sfn = client("stepfunctions")
    entered: Counter[str] = Counter()
    token = None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        entered.update(event["stateEnteredEventDetails"]["name"] for event in page["events"]
                       if event["type"].endswith("StateEntered"))
        token = page.get("nextToken")
        if not token:
            return entered


@dataclass
class Usage:
    """Lambda invocations and AWS API calls between two snapshots of the sandbox's metrics."""

    invocations: int = 0
    handler_seconds: float = 0.0
    wall_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    by_function: Counter[str] = field(default_factory=Counter)
    function_calls: dict[str, Counter[str]] = field(default_factory=dict)

    @classmethod
    def since(cls, start: int) -> Usage:
        usage = cls()
        for invocation in get_json("/metrics.json")[start:]:
            usage.invocations += 1
            usage.handler_seconds += float(invocation.get("handlerSeconds") or 0)
            usage.wall_seconds += float(invocation["seconds"])
            function = invocation["function"].split("-", 1)[-1]  # without the system's name
            usage.calls.update(invocation.get("calls") or {})
            usage.by_function[function] += 1
            usage.function_calls.setdefault(function, Counter()).update(invocation.get("calls") or {})
        return usage

    def by_service(self) -> Counter[str]:
        services: Counter[str] = Counter()
        for name, count in self.calls.items():
            services[name.split(":")[0]] += count
        return services


def metrics_mark() -> int:
    return len(get_json("/metrics.json"))


def inbox_mark() -> int:
    return len(get_json("/inbox.json"))


def describe(values: list[float], unit: str = "s", digits: int = 1) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} {unit}"
    return (f"median {statistics.median(values):.{digits}f} {unit} (min {min(values):.{digits}f}, "
            f"max {max(values):.{digits}f}, n={len(values)})")


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    return [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}", *[f"| {' | '.join(r)} |" for r in rows]]
