"""The judge, measured in the sandbox under steady load, as an operator would see it.

- detection time: from the canary step beginning (production splitting 80/20) to production forwarding to blue
  alone again, for a version that fails about 5% of requests (`errors`) and one about 300 ms slower (`slow`);
- false-rollback rate: healthy versions released the same way (canary, then a bake, judged all along), and how many
  the judge rolled back; beside it the rate of the judge's own code on simulated identical versions (many more
  releases than the sandbox can run);
- a picture of a judged canary (docs/judged-canary.svg): both sides' 5XX rate and p90 latency per second, read back
  from the sandbox's CloudWatch, with the moment the judge rolled it back.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench import common
from sandbox.lb_metrics import dimension
from sandbox.load import steady_load

PRODUCTION = 8000
PICTURE = common.ROOT / "docs" / "judged-canary.svg"
CANARY = ("--strategy", "canary:20:2", "--check-interval", "1", "--health-interval", "2", "--approve")


def _release(image: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(common.ROOT / "deploy.py"), "release", "--image", image, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=common.ROOT)


def detection(image: str) -> tuple[float, str, tuple[float, float], float]:
    """Seconds from the canary's split to blue alone; the release's output; the epoch window to picture (whole
    seconds, from 8 s before the split); when in it the rollback happened."""
    process = _release(image, *CANARY, "--bake", "0")
    common.wait_for(lambda: len(common.forward_targets("shop-alb", PRODUCTION)) == 2 or process.poll() is not None,
                    300, poll=0.05, what="the canary split")
    split, split_epoch = time.monotonic(), time.time()
    common.wait_for(lambda: len(common.forward_targets("shop-alb", PRODUCTION)) == 1, 300, poll=0.05,
                    what="production back on one side")
    back = time.monotonic()
    out, _ = process.communicate(timeout=300)
    start = math.floor(split_epoch) - 8
    return back - split, out, (start, time.time() + 3), split_epoch - start + back - split


def healthy_release(image: str) -> tuple[bool, bool]:
    """(released, rolled back by the judge) for a healthy version: a 30 s canary, then a 20 s bake."""
    process = _release(image, "--strategy", "canary:20:0.5", "--check-interval", "1", "--health-interval", "2",
                       "--approve", "--bake", "20")
    out, _ = process.communicate(timeout=600)
    return process.returncode == 0, "the judge found green worse" in out


def simulated_false_rollbacks(releases: int = 2000, seconds: int = 60, rate: int = 60) -> float:
    """The judge's code on two identical sides (0.5% errors, lognormal latency) looked at every second of a canary
    at 20%, on the growing window, as the watch does: the share of releases it would roll back."""
    from release.config import parse_request
    from release.judging import Verdict, judge
    from release.observed import SideFigures

    config = parse_request({"loadBalancer": "a", "cluster": "c", "traffic": {
        "strategy": "canary:20:1", "judge": {"periodSeconds": 1}}})["traffic"]["judge"]
    rng = random.Random(2026)  # noqa: S311 - simulated traffic, seeded to be repeatable
    rolled_back = 0
    for _ in range(releases):
        sides: dict[str, list[tuple[int, int, float]]] = {"green": [], "blue": []}
        for _second in range(seconds):
            for side, share in (("green", 0.2), ("blue", 0.8)):
                requests = max(1, round(rate * share * rng.uniform(0.7, 1.3)))
                errors = sum(rng.random() < 0.005 for _ in range(requests))
                sides[side].append((requests, errors, rng.lognormvariate(-5.0, 0.4)))
            green, blue = (SideFigures(sum(r for r, _, _ in sides[s]), sum(e for _, e, _ in sides[s]),
                                       tuple(p for _, _, p in sides[s])) for s in ("green", "blue"))
            if judge(green, blue, config)["verdict"] == Verdict.FAIL:
                rolled_back += 1
                break
    return rolled_back / releases


def _series(window: tuple[float, float]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Per second, per side: 5XX rate (%) and p90 latency (ms), read back from the sandbox's CloudWatch."""
    elbv2, cloudwatch = common.client("elbv2"), common.client("cloudwatch")
    lb = elbv2.describe_load_balancers(Names=["shop-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {g["TargetGroupName"]: g["TargetGroupArn"] for g in elbv2.describe_target_groups(
        LoadBalancerArn=lb)["TargetGroups"]}
    queries = []
    for index, (name, arn) in enumerate(sorted(groups.items())):
        dimensions = [{"Name": "LoadBalancer", "Value": dimension(lb)},
                      {"Name": "TargetGroup", "Value": dimension(arn)}]
        for key, metric, stat in (("n", "RequestCount", "Sum"), ("e", "HTTPCode_Target_5XX_Count", "Sum"),
                                  ("l", "TargetResponseTime", "p90")):
            queries.append({"Id": f"{key}{index}", "Label": name, "MetricStat": {"Metric": {
                "Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dimensions},
                "Period": 1, "Stat": stat}})
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=datetime.fromtimestamp(window[0], UTC),
                                        EndTime=datetime.fromtimestamp(window[1], UTC))
    raw = {r["Id"]: dict(zip((t.timestamp() for t in r["Timestamps"]), r["Values"], strict=True))
           for r in answer["MetricDataResults"]}
    names = sorted(groups)
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for index, name in enumerate(names):
        requests, errors, latency = raw.get(f"n{index}", {}), raw.get(f"e{index}", {}), raw.get(f"l{index}", {})
        series[name] = {
            "errors": [(t - window[0], 100 * errors.get(t, 0) / n) for t, n in sorted(requests.items()) if n],
            "latency": [(t - window[0], latency[t] * 1000) for t in sorted(latency)]}
    return series


def picture(series: dict[str, dict[str, list[tuple[float, float]]]], live: str, rolled_back_at: float,
            image: str, detected: float) -> str:
    """An SVG of both sides' per-second 5XX rate and p90 latency, and when the judge rolled green back."""
    width, height, left, top, panel = 760, 420, 60, 40, 150
    span = max([x for side in series.values() for points in side.values() for x, _ in points] + [rolled_back_at + 2])
    colours = {name: ("#2563eb" if name == live else "#16a34a") for name in series}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="system-ui, sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="20" font-size="14" font-weight="bold">A judged canary: {image} at 20% under load, '
             f'back on blue {detected:.0f} s after the split</text>']
    for row, (key, unit) in enumerate((("errors", "5XX rate (%)"), ("latency", "p90 latency (ms)"))):
        y0 = top + row * (panel + 40)
        peak = max([v for side in series.values() for _, v in side[key]] + [1.0]) * 1.15
        parts.append(f'<rect x="{left}" y="{y0}" width="{width - left - 20}" height="{panel}" fill="none" '
                     'stroke="#d1d5db"/>')
        parts.append(f'<text x="{left}" y="{y0 - 6}">{unit} per second, max {peak / 1.15:.1f}</text>')
        for name, side in series.items():
            points = " ".join(f"{left + x / span * (width - left - 20):.1f},{y0 + panel - v / peak * panel:.1f}"
                              for x, v in side[key])
            if points:
                parts.append(f'<polyline fill="none" stroke="{colours[name]}" stroke-width="1.8" points="{points}"/>')
        marker = left + rolled_back_at / span * (width - left - 20)
        parts.append(f'<line x1="{marker:.1f}" x2="{marker:.1f}" y1="{y0}" y2="{y0 + panel}" stroke="#dc2626" '
                     'stroke-dasharray="4 3"/>')
    legend_y = height - 12
    for index, (name, colour) in enumerate(sorted(colours.items())):
        parts.append(f'<text x="{left + index * 220}" y="{legend_y}" fill="{colour}">'
                     f'{name}: {"blue, production" if name == live else "green, the canary"}</text>')
    parts.append(f'<text x="{left + 460}" y="{legend_y}" fill="#dc2626">- - the judge rolls back</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def run(repeats: int) -> list[str]:
    common.deploy_ok("release", "--image", "sample-app:judge-base", "--approve", "--bake", "0", "--health-interval",
                     "2")
    rows: list[tuple[str, ...]] = []
    drawn = False
    with steady_load(PRODUCTION, threads=4) as statuses:
        for kind, metric in (("errors", "5XX rate"), ("slow", "latency")):
            times, named = [], 0
            for attempt in range(repeats):
                live = common.forward_targets("shop-alb", PRODUCTION)[0]
                seconds, out, window, rolled_back_at = detection(f"sample-app:judge-{kind}{attempt}")
                times.append(seconds)
                named += f"worse than blue on {metric}" in out
                if kind == "errors" and not drawn:
                    PICTURE.parent.mkdir(exist_ok=True)
                    PICTURE.write_text(picture(_series(window), live, rolled_back_at, f"sample-app:{kind}", seconds))
                    drawn = True
            rows.append((f"`{kind}` image (canary 20%, 2 min step): split to blue alone",
                         common.describe(times), f"{named} of {repeats} rollbacks named {metric}"))
        healthy = [healthy_release(f"sample-app:judge-ok{n}") for n in range(repeats * 2)]
    false = sum(judged for _, judged in healthy)
    released = sum(ok for ok, _ in healthy)
    served = sum(statuses.values())
    rows.append(("healthy image (canary 20% for 30 s, then a 20 s bake)",
                 f"{false} of {len(healthy)} rolled back by the judge",
                 f"false-rollback rate measured in the sandbox; {released} of {len(healthy)} released"))
    rate = simulated_false_rollbacks()
    rows.append(("identical sides, simulated (2000 one-minute canaries, 60 looks each)",
                 f"{rate * 100:.2f}% rolled back", "the judge's own code; significance 0.01 per look"))
    rows.append(("requests served during the section", str(served),
                 ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))))
    return ["### Judge", "", *common.table(("what", "figure", "note"), rows), "",
            f"Picture of the first judged `errors` canary: `{PICTURE.relative_to(common.ROOT)}`. Load: 4 clients "
            "requesting production non-stop; the judge looks every second (`--check-interval 1`) at per-second "
            "periods, with the default settings (significance 0.01, 1 point of 5XX rate, 20% + 25 ms of p90 "
            "latency, 100 requests and 5 periods per side at least)."]
