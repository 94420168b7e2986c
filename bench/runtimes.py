"""The sandbox's two Lambda runtimes side by side, in one run on one machine: a fresh interpreter per invocation
(SANDBOX_LAMBDA_RUNTIME=fresh) and warm execution environments (the default). Each gets a sandbox of its own,
started from nothing, and the same releases: the ratio between the two is what carries from machine to machine.

- engine time per release: the execution minus its Wait states and the approval wait
- approval decision (the POST from the approval page) -> production listener, and production serving it
- alarm in ALARM -> production listener back on blue, alarm checks every 2 s
- N releases at once on N systems: engine time per release against N = 1
- AWS API calls per happy-path release (approved from the mailed link, no bake, 2 s health polls)
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from bench import common, cost, latency, scale

RUNTIMES = ("fresh", "warm")
FAST = ("--bake", "0", "--health-interval", "2")


@dataclass
class Figures:
    """What one runtime measured."""

    first_engine: float = 0.0  # the first release after the sandbox started: every environment cold
    engine: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    poll_calls: float = 0.0
    approval: list[tuple[float, float]] = field(default_factory=list)
    alarm: list[float] = field(default_factory=list)
    scale: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # (N, round) -> engine seconds
    invocations: Counter[str] = field(default_factory=Counter)  # cold / warm
    init: list[float] = field(default_factory=list)
    handler: list[float] = field(default_factory=list)

    def calls_with_one_poll(self) -> float:
        return statistics.median(c - (p - 1) * self.poll_calls for c, p in zip(self.calls, self.polls, strict=True))


def _happy(image: str) -> tuple[float, cost.Release]:
    """A release approved from the mailed link; its engine time and what it used."""
    metrics, inbox = common.metrics_mark(), common.inbox_mark()
    process = common.start_deploy("release", "--image", image, *FAST)
    common.approve(common.approval_link(inbox, process))
    result = common.finish(process)
    usage = common.Usage.since(metrics)
    return float(result["engineSeconds"]), cost.Release(common.states_entered(result["execution"]), usage,
                                                        float(result["seconds"]))


def measure(runtime: str, repeats: int, sizes: tuple[int, ...]) -> Figures:
    os.environ["SANDBOX_LAMBDA_RUNTIME"] = runtime  # read by the sandbox when it starts
    try:
        return _measure(runtime, repeats, sizes)
    finally:
        common.deploy("down")
        os.environ.pop("SANDBOX_LAMBDA_RUNTIME", None)


def _measure(runtime: str, repeats: int, sizes: tuple[int, ...]) -> Figures:
    common.deploy("down")
    common.deploy_ok()
    figures = Figures()
    tag = f"{runtime[0]}{int(time.time()) % 100_000}"
    start = common.metrics_mark()
    figures.first_engine, _ = _happy(f"sample-app:{tag}-first")
    poll_calls: list[int] = []
    for n in range(repeats):
        engine, release = _happy(f"sample-app:{tag}-{n}")
        figures.engine.append(engine)
        figures.calls.append(sum(release.usage.calls.values()))
        figures.polls.append(release.usage.by_function.get("check-health", 0))
        poll_calls.append(sum(release.usage.function_calls.get("check-health", Counter()).values()))
    figures.poll_calls = sum(poll_calls) / max(sum(figures.polls), 1)  # AWS calls per health check
    figures.approval = [latency.approval_to_listener(f"sample-app:{tag}-a{n}") for n in range(repeats)]
    figures.alarm = [latency.alarm_to_blue(f"sample-app:{tag}-r{n}", 2) for n in range(repeats)]
    for invocation in common.get_json("/metrics.json")[start:]:
        figures.invocations["cold" if invocation.get("cold") else "warm"] += 1
        if invocation.get("initSeconds") is not None:
            figures.init.append(float(invocation["initSeconds"]))
        if invocation.get("handlerSeconds") is not None:
            figures.handler.append(float(invocation["handlerSeconds"]))
    for index in range(max(sizes)):
        scale.bootstrap(index)
    for size in sizes:
        for round_ in (1, 2):  # the first round starts environments; the second finds them warm
            _, results, _, _ = scale.release_all(size, f"{tag}-n{size}-{round_}")
            figures.scale[(size, round_)] = [float(str(r["engineSeconds"])) for r in results]
    return figures


def run(repeats: int, sizes: tuple[int, ...] = (1, 20)) -> list[str]:
    measured = {runtime: measure(runtime, repeats, sizes) for runtime in RUNTIMES}
    fresh, warm = measured["fresh"], measured["warm"]
    big = max(sizes)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}x" if b else "-"

    def growth(f: Figures, round_: int) -> float:
        return med(f.scale[(big, round_)]) / med(f.scale[(1, round_)])

    rows: list[tuple[str, ...]] = [
        ("engine time per release (execution minus Wait states and the approval wait)",
         common.describe(fresh.engine), common.describe(warm.engine), ratio(med(fresh.engine), med(warm.engine)),
         "under 2 s"),
        ("the same, first release after the sandbox started (every environment cold)", f"{fresh.first_engine:.1f} s",
         f"{warm.first_engine:.1f} s", ratio(fresh.first_engine, warm.first_engine), ""),
        ("approval decision (POST) -> production listener forwards to green",
         common.describe([a for a, _ in fresh.approval], digits=2), common.describe([a for a, _ in warm.approval],
                                                                                   digits=2),
         ratio(med([a for a, _ in fresh.approval]), med([a for a, _ in warm.approval])), ""),
        ("approval decision (POST) -> production serves the new version",
         common.describe([b for _, b in fresh.approval], digits=2), common.describe([b for _, b in warm.approval],
                                                                                   digits=2),
         ratio(med([b for _, b in fresh.approval]), med([b for _, b in warm.approval])), "under 0.5 s"),
        ("alarm in ALARM -> production back on blue, 2 s alarm checks", common.describe(fresh.alarm, digits=2),
         common.describe(warm.alarm, digits=2), ratio(med(fresh.alarm), med(warm.alarm)), "under 2.5 s"),
        *[(f"N = {big} releases at once: engine time per release against N = 1 ({label})",
           f"{growth(fresh, r):.1f}x ({med(fresh.scale[(big, r)]):.1f} s against {med(fresh.scale[(1, r)]):.1f} s)",
           f"{growth(warm, r):.1f}x ({med(warm.scale[(big, r)]):.1f} s against {med(warm.scale[(1, r)]):.1f} s)",
           "", "within 2x" if r == 2 else "")
          for r, label in ((1, "first release of each system"), (2, "second release"))],
        ("AWS API calls per happy-path release (its health checks)",
         ", ".join(f"{c} ({p})" for c, p in zip(fresh.calls, fresh.polls, strict=True)),
         ", ".join(f"{c} ({p})" for c, p in zip(warm.calls, warm.polls, strict=True)), "", "30 or fewer"),
        ("the same, derived for one health check (green healthy when the release starts, as after the pipeline's "
         "deploy): measured minus the further checks' calls",
         f"{fresh.calls_with_one_poll():.0f}", f"{warm.calls_with_one_poll():.0f}", "",
         f"each further check: +{warm.poll_calls:.0f}"),
        ("Lambda invocations measured: cold / warm starts",
         f"{fresh.invocations['cold']} / {fresh.invocations['warm']}",
         f"{warm.invocations['cold']} / {warm.invocations['warm']}", "", ""),
        ("handler module import inside a cold start's process, median (fresh: after its interpreter started and "
         "loaded botocore, about 0.9 s, not counted here)", f"{med(fresh.init) * 1000:.0f} ms" if fresh.init else "-",
         f"{med(warm.init) * 1000:.0f} ms" if warm.init else "-", "", ""),
        ("handler time per invocation, median", f"{med(fresh.handler) * 1000:.0f} ms",
         f"{med(warm.handler) * 1000:.0f} ms", ratio(med(fresh.handler), med(warm.handler)), ""),
    ]
    return ["### Lambda runtimes: a fresh interpreter per invocation against warm environments", "",
            f"Each runtime in a sandbox of its own, started from nothing, in this run; {repeats} releases of each "
            f"kind after a first one. Approvals are made from the mailed link; {big} systems were bootstrapped "
            "for the scale rows, released twice at once.", "",
            *common.table(("figure", "fresh interpreter", "warm environments", "fresh / warm", "target"), rows)]
