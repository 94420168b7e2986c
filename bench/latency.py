"""Reaction latencies, measured from outside as an operator would see them, by polling the sandbox's AWS.

- approval decision (the POST from the approval page) -> the production listener forwards to green
- alarm in ALARM -> the production listener forwards to blue again
- green healthy (service steady, every target healthy) -> the approval request is published
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request

from bench import common

ALARM = "bench-errors"
PRODUCTION, TEST = 8000, 8080


def _watch_listener(load_balancer: str, port: int, until: tuple[str, ...], timeout: float = 120) -> float:
    """The monotonic time at which the listener's forward became `until`."""
    common.wait_for(lambda: common.forward_targets(load_balancer, port) == until, timeout, poll=0.02,
                    what=f"the listener on {port} to forward to {until}")
    return time.monotonic()


def approval_to_listener(image: str) -> tuple[float, float]:
    """Seconds from the approval POST to the listener change, and to production serving the new version."""
    inbox = common.inbox_mark()
    process = common.start_deploy("release", "--image", image, "--bake", "0", "--health-interval", "2")
    link = common.approval_link(inbox, process)
    green = common.forward_targets("shop-alb", TEST)
    started = time.monotonic()
    threading.Thread(target=common.approve, args=(link,), daemon=True).start()
    changed = _watch_listener("shop-alb", PRODUCTION, green)
    common.wait_for(lambda: _version(PRODUCTION) == image.rsplit(":", 1)[1], 30, poll=0.02,
                    what="production to serve the new version")
    serving = time.monotonic()
    common.finish(process)
    return changed - started, serving - started


def _version(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=2) as response:
            return str(json.loads(response.read())["version"])
    except OSError:
        return None


def alarm_to_blue(image: str, check_interval: int) -> float:
    """Seconds from an alarm going into ALARM during the bake to production forwarding to blue again."""
    cloudwatch = common.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=ALARM, MetricName="HTTPCode_Target_5XX_Count",
                                Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                                Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="benchmark: healthy")
    inbox = common.inbox_mark()
    blue = common.forward_targets("shop-alb", PRODUCTION)
    process = common.start_deploy("release", "--image", image, "--bake", "300", "--health-interval", "2",
                                  "--alarm", ALARM, "--check-interval", str(check_interval))
    link = common.approval_link(inbox, process)
    green = common.forward_targets("shop-alb", TEST)
    common.approve(link)
    _watch_listener("shop-alb", PRODUCTION, green)
    time.sleep(check_interval + random.uniform(0, check_interval))  # noqa: S311 - a random phase in the bake
    started = time.monotonic()
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="benchmark: errors")
    back = _watch_listener("shop-alb", PRODUCTION, blue)
    common.finish_any(process)  # exits 1: not released, rolled back
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="benchmark: over")
    return back - started


def healthy_to_approval_request(image: str, *flags: str) -> float:
    """Seconds from green being healthy (as the engine defines it) to the approval request being published."""
    inbox = common.inbox_mark()
    green = common.forward_targets("shop-alb", TEST)[0]
    process = common.start_deploy("release", "--image", image, *flags)
    healthy: float = common.wait_for(lambda: _green_healthy(green, image), 180, poll=0.05, what="green to be healthy")
    link = common.approval_link(inbox, process)
    sent = next(m["epoch"] for m in common.get_json("/inbox.json")[inbox:] if link in m["links"])
    common.decide(link, "reject", "latency measured")
    common.finish_any(process)
    return float(sent) - healthy


def _green_healthy(group_name: str, image: str) -> float | None:
    ecs, elbv2 = common.client("ecs"), common.client("elbv2")
    cluster = group_name.split("-")[0]
    service = ecs.describe_services(cluster=cluster, services=[group_name])["services"][0]
    deployments = service["deployments"]
    if len(deployments) != 1 or deployments[0].get("rolloutState") != "COMPLETED":
        return None
    definition = ecs.describe_task_definition(taskDefinition=deployments[0]["taskDefinition"])["taskDefinition"]
    if definition["containerDefinitions"][0]["image"] != image:
        return None
    arn = elbv2.describe_target_groups(Names=[group_name])["TargetGroups"][0]["TargetGroupArn"]
    targets = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    if not targets or any(t["TargetHealth"]["State"] != "healthy" for t in targets):
        return None
    return time.time()


def run(repeats: int = 3) -> list[str]:
    tag = int(time.time()) % 100_000
    approval: list[tuple[float, float]] = [approval_to_listener(f"sample-app:l{tag}-{n}") for n in range(repeats)]
    alarms: dict[int, list[float]] = {}
    for interval in (10, 2):  # twice the runs: the alarm's phase within the check interval varies
        alarms[interval] = [alarm_to_blue(f"sample-app:a{tag}-{interval}-{n}", interval) for n in range(2 * repeats)]
    healthy: dict[str, list[float]] = {}
    for label, flags in (("10 s", ()), ("2 s", ("--health-interval", "2"))):
        healthy[label] = [healthy_to_approval_request(f"sample-app:h{tag}-{label[:-2]}-{n}", *flags)
                          for n in range(repeats)]
    rows: list[tuple[str, ...]] = [
        ("approval decision (POST on the approval page) -> production listener forwards to green",
         common.describe([a for a, _ in approval]), "the approval function, then Swap traffic: two Lambda "
         "invocations, each a fresh interpreter in the sandbox (about 1 s)"),
        ("approval decision -> production serves the new version", common.describe([b for _, b in approval]),
         "the load balancer reads the listener on each request"),
        *[(f"alarm in ALARM -> production listener back on blue (alarm checks every {i} s)",
           common.describe(v), "the wait for the next alarm check (the alarm fires at a random moment of the "
           "interval), then the rollback's Lambda invocation")
          for i, v in alarms.items()],
        *[(f"green healthy -> approval request published (first health poll after {k}, doubling)",
           common.describe(v), "green is checked on a schedule; the request follows the first passing check")
          for k, v in healthy.items()],
    ]
    return ["### Reaction latencies", "",
            "Measured from outside, polling the sandbox's AWS every 20 to 50 ms while `deploy.py release` runs.", "",
            *common.table(("from -> to", "latency", "what it is made of"), rows)]
