"""Benchmarks of the release system in the embedded sandbox. Prints Markdown tables.

    python bench/run.py [--only speed,latency,cost,scale,startup,suite] [--repeats 3] [--scale 1,5,20]
                        [--write bench/RESULTS.md]

It replaces whatever runs in the sandbox (`deploy.py down` first) and stops it at the end.
- speed: bootstrap time; release and rollback times; the engine's own time inside a release
- latency: approval -> production listener, alarm -> back on blue, green healthy -> approval request
- cost: state transitions, Lambda invocations and duration, AWS API calls; per extra minute of waiting
- scale: N releases at once on N systems in one sandbox
- startup: each handler's cold import time, the deployment package's size
- suite: `make test` (linters, type checks, every test), timed
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "handlers")]

from bench import common, cost, latency, scale  # noqa: E402
from deployer import package  # noqa: E402

HANDLERS = ["discover", "lock", "check_health", "request_approval", "approval_api", "swap_traffic", "shift_traffic",
            "watch", "roll_back", "notify"]
SECTIONS = ("speed", "latency", "cost", "scale", "startup", "suite")
FRESH = {"speed", "scale", "suite"}  # start from an empty sandbox (the suite's sandbox tests need its ports)


def speed(repeats: int) -> list[str]:
    bootstrap, _ = common.deploy_ok()
    default_release: list[float] = []
    fast_release: list[float] = []
    engine: list[float] = []
    rollback: list[float] = []
    for n in range(repeats):
        for flags, bucket in (((), default_release), (("--health-interval", "2"), fast_release)):
            seconds, result = common.deploy_ok("release", "--image", f"sample-app:s{n}-{len(flags)}", "--approve",
                                               *flags)
            bucket.append(seconds)
            engine.append(float(result["engineSeconds"]))
        seconds, _ = common.deploy_ok("rollback")
        rollback.append(seconds)
    rows = [
        ("`python deploy.py` from nothing to production serving, every target healthy", f"{bootstrap:.1f} s"),
        ("release --approve, sandbox defaults (10 s health polls, 10 s bake)", common.describe(default_release)),
        ("release --approve, 2 s health polls, 10 s bake", common.describe(fast_release)),
        ("engine time per release: execution minus its Wait states and the approval wait",
         common.describe(engine)),
        ("rollback (no approval, no bake)", common.describe(rollback)),
    ]
    return ["### Speed", "", *common.table(("what", "figure"), rows)]


def import_seconds(module: str, runs: int = 5) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "handlers"), "POWERTOOLS_TRACE_DISABLED": "true",
           "AWS_DEFAULT_REGION": "us-east-1"}

    def timed(code: str, environment: dict[str, str] | None) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=environment, check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    return timed(f"import {module}", env) - timed("pass", None)


def startup(_: int) -> list[str]:
    rows = [(f"cold import of `{m}` (beyond a bare interpreter)", f"{import_seconds(m) * 1000:.0f} ms")
            for m in HANDLERS]
    zip_size = len(package.build_zip())
    cache = sorted((ROOT / ".build").glob("deps-*"))
    with_deps = len(package.build_zip(cache[-1])) if cache else None
    rows += [("deployment package, handlers only (sandbox)", f"{zip_size / 1024:.0f} KiB"),
             ("deployment package with dependencies (AWS, arm64)",
              f"{with_deps / 1024 / 1024:.1f} MiB" if with_deps else "not built yet: run `python deploy.py --aws ...`")]
    return ["### Handler start-up and package", "", *common.table(("what", "figure"), rows)]


def suite(_: int) -> list[str]:
    started = time.perf_counter()
    make = shutil.which("make") or "make"
    done = subprocess.run([make, "test"], cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    summary = re.findall(r"=+ (.*(?:passed|failed).*) in [\d.]+s", done.stdout)
    outcome = summary[-1] if summary else f"exit status {done.returncode}"
    return ["### Test suite", "", *common.table(("what", "figure"), [
        ("`make test` (ruff, mypy --strict, every test; virtual environments already built)",
         f"{seconds / 60:.1f} min: {outcome}")])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", default="1,5,20", help="numbers of systems releasing at once")
    parser.add_argument("--write", type=Path, help="also write the results to this Markdown file")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    sizes = tuple(int(n) for n in args.scale.split(","))
    runners: dict[str, Callable[[int], list[str]]] = {
        "speed": speed, "latency": latency.run, "cost": cost.run, "scale": lambda _: scale.run(sizes),
        "startup": startup, "suite": suite}

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine}, in the sandbox (`python deploy.py`).", ""]
    print("\n".join(lines), flush=True)
    try:
        for name in chosen:
            if name in FRESH:
                common.deploy("down")
            if name in ("latency", "cost"):
                common.deploy_ok()  # the default system, created if missing
            started = time.perf_counter()
            section = runners[name](args.repeats)
            section += ["", f"_{name}: measured in {time.perf_counter() - started:.0f} s_", ""]
            print("\n".join(section), flush=True)
            lines += section
    finally:
        common.deploy("down")
    if args.write:
        args.write.write_text("# Benchmark results\n\nReproduce with `make bench` (or `python bench/run.py`; "
                              "`--help` lists the sections).\n\n" + "\n".join(lines).rstrip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
