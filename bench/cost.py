"""Cost per release: state transitions, Lambda invocations and duration, AWS API calls per service.

Counted in the sandbox while real releases run (the handlers' own AWS calls, counted in the Lambda
runtime; transitions from the execution's history), then priced at list prices.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench import common

# List prices, us-east-1, per unit (https://aws.amazon.com/pricing): what a release is billed for.
PRICE_TRANSITION = 0.025 / 1000  # Step Functions standard workflows
PRICE_INVOCATION = 0.20 / 1_000_000  # Lambda requests
PRICE_GB_SECOND = 0.0000133334  # Lambda duration, arm64
PRICE_WRITE = 0.625 / 1_000_000  # DynamoDB on-demand write request unit (items under 1 KB)
PRICE_READ = 0.125 / 1_000_000  # DynamoDB on-demand read request unit
PRICE_PUBLISH = 0.50 / 1_000_000  # SNS publish
PRICE_EMAIL = 2.00 / 100_000  # SNS email delivery, per subscriber
PRICE_CLOUDWATCH_CALL = 0.01 / 1000  # CloudWatch API requests such as DescribeAlarms
MEMORY_GB = 256 / 1024  # every function's MemorySize in cfn/engine.yaml
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
READS = {"GetItem", "Query"}
HEALTH_LOOP = ("Check green's health", "Is green healthy?", "Wait before checking again")
FAST = ("--health-interval", "2")


@dataclass
class Release:
    """What one release used."""

    entered: Counter[str]
    usage: common.Usage
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def transitions(self) -> int:
        return sum(self.entered.values())

    def dollars(self, subscribers: int = 1) -> float:
        calls = self.usage.calls
        writes = sum(n for k, n in calls.items() if k.split(":")[1] in WRITES and k.startswith("dynamodb"))
        reads = sum(n for k, n in calls.items() if k.split(":")[1] in READS and k.startswith("dynamodb"))
        publishes = calls.get("sns:Publish", 0)
        return (self.transitions * PRICE_TRANSITION + self.usage.invocations * PRICE_INVOCATION
                + self.usage.handler_seconds * MEMORY_GB * PRICE_GB_SECOND + writes * PRICE_WRITE
                + reads * PRICE_READ + publishes * (PRICE_PUBLISH + subscribers * PRICE_EMAIL)
                + self.usage.by_service().get("cloudwatch", 0) * PRICE_CLOUDWATCH_CALL)


def release(image: str, *flags: str, approve_after: float = 0.0, system: str = "shop") -> Release:
    """A release as a user runs it: `deploy.py release`, approved from the mailed link."""
    metrics, inbox = common.metrics_mark(), common.inbox_mark()
    process = common.start_deploy("release", "--name", system, "--image", image, *flags)
    link = common.approval_link(inbox, process, system)
    time.sleep(approve_after)
    common.approve(link)
    result = common.finish(process)
    usage = common.Usage.since(metrics)
    return Release(common.states_entered(result["execution"]), usage, float(result["seconds"]))


def run(repeats: int = 2) -> list[str]:
    tag = int(time.time()) % 100_000
    happy = [release(f"sample-app:c{tag}-{n}", "--bake", "0", *FAST) for n in range(repeats)]
    late = release(f"sample-app:c{tag}-late", "--bake", "0", *FAST, approve_after=30)
    baked = release(f"sample-app:c{tag}-bake", "--bake", "60", *FAST)
    canary = release(f"sample-app:c{tag}-canary", "--bake", "0", "--strategy", "canary:10:1", *FAST)
    common.deploy_ok("rollback")  # leaves production where the benchmarks found it: not required, but tidy

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def services(r: Release) -> str:
        return ", ".join(f"{s} {n}" for s, n in sorted(r.usage.by_service().items(), key=lambda i: -i[1]))

    rows = []
    for label, runs in (("all-at-once, no bake (happy path)", happy), ("the same, approved 30 s later", [late]),
                        ("all-at-once, 60 s bake", [baked]), ("canary 10 % for 1 min, no bake", [canary])):
        rows.append((label, f"{med([r.transitions for r in runs]):.0f}",
                     f"{med([r.usage.invocations for r in runs]):.0f}",
                     f"{med([r.usage.handler_seconds for r in runs]):.2f} s",
                     f"{med([sum(r.usage.calls.values()) for r in runs]):.0f}", services(runs[-1]),
                     f"${med([r.dollars() for r in runs]):.5f}"))

    base = happy[0]

    def beyond(r: Release, other: Release) -> tuple[int, int, int, float]:
        """What `r` used beyond `other`, leaving out the health polls (their number varies between runs)."""
        def parts(x: Release) -> tuple[int, int, int, float]:
            polls = x.usage.by_function.get("check-health", 0)
            poll_calls = sum(x.usage.function_calls.get("check-health", Counter()).values())
            loop = sum(x.entered[s] for s in HEALTH_LOOP)
            return (x.transitions - loop, x.usage.invocations - polls, sum(x.usage.calls.values()) - poll_calls,
                    x.dollars())
        mine, theirs = parts(r), parts(other)
        return mine[0] - theirs[0], mine[1] - theirs[1], mine[2] - theirs[2], mine[3] - theirs[3]

    waiting, baking = beyond(late, base), beyond(baked, base)
    polls = [r.usage.by_function.get("check-health", 0) for r in happy]
    poll_calls = med([sum(r.usage.function_calls.get("check-health", Counter()).values()) / max(p, 1)
                      for r, p in zip(happy, polls, strict=True)])
    poll_dollars = (len(HEALTH_LOOP) * PRICE_TRANSITION + PRICE_INVOCATION
                    + base.usage.handler_seconds / max(base.usage.invocations, 1) * MEMORY_GB * PRICE_GB_SECOND)
    per_minute = [
        ("waiting for approval", f"{waiting[0]:+d}", f"{waiting[1]:+d}", f"{waiting[2]:+d}",
         "measured: approving 30 s later than at once (a callback task token waits for free)"),
        ("baking (alarm and target checks every 10 s)", f"{baking[0]:+d}", f"{baking[1]:+d}", f"{baking[2]:+d}",
         f"measured: 60 s bake minus no bake; about ${baking[3]:.5f} per minute"),
        ("waiting for green to become healthy (polls back off to one a minute)", f"+{len(HEALTH_LOOP)}", "+1",
         f"+{poll_calls:.0f}",
         f"one poll, from the happy path's polls; ${poll_dollars:.6f} per minute at the 60 s cap"),
    ]
    worst_lambda = sum(base.usage.calls.values()) * 0.1 * MEMORY_GB * PRICE_GB_SECOND
    lines = ["### Cost per release", "",
             "Counted in the sandbox: state transitions from each execution's history, every Lambda invocation, "
             "and every AWS API call the handlers made (counted in the Lambda runtime). Priced at us-east-1 list "
             "prices (Step Functions $0.025 per 1,000 transitions; Lambda arm64 $0.20 per million requests and "
             "$0.0000133334 per GB-s at 256 MB; DynamoDB on demand; SNS publish and one email subscriber; "
             "CloudWatch API requests). ELBv2, ECS and Step Functions API calls cost nothing; CloudWatch Logs and "
             "X-Ray are not counted.", ""]
    lines += common.table(("release", "transitions", "Lambda invocations", "handler time", "AWS API calls",
                           "calls by service", "cost"), rows)
    lines += ["", "Each extra minute of waiting costs:", ""]
    lines += common.table(("while", "transitions", "invocations", "API calls", "how it was measured"), per_minute)
    lines += ["", f"Handler time is measured in the sandbox, where an API call takes milliseconds. On AWS each call "
              f"takes longer; even at 100 ms for every one of the happy path's {sum(base.usage.calls.values())} "
              f"calls, Lambda duration would add ${worst_lambda:.5f} per release."]
    return lines
