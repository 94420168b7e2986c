"""Benchmarks of the release system in the embedded sandbox. Prints a Markdown table.

    python bench/run.py [--releases 3] [--write bench/RESULTS.md]

Measures, on this machine: bootstrap time to a serving production URL, release time with --approve
(sandbox defaults, and with 2-second health polls), the engine's own time inside a release
(execution time minus its Wait states and the approval wait), rollback time, each handler's cold import time,
and the deployment package size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "handlers")]

from deployer import package  # noqa: E402

HANDLERS = ["discover", "lock", "check_health", "request_approval", "approval_api", "swap_traffic", "shift_traffic",
            "watch", "roll_back", "notify"]


def deploy(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "deploy.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, check=False, timeout=600)
    return time.perf_counter() - started, done


def serving(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as response:
        return str(json.loads(response.read())["version"])


def engine_seconds(result: subprocess.CompletedProcess[str]) -> float:
    """Execution time minus the waits the health check scheduled (from the release's JSON output)."""
    data = json.loads(result.stdout)
    return float(data["engineSeconds"]) if "engineSeconds" in data else float("nan")


def import_seconds(module: str, runs: int = 5) -> float:
    times = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "handlers"), "POWERTOOLS_TRACE_DISABLED": "true",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
        times.append(time.perf_counter() - started)
    baseline = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - started)
    return statistics.median(times) - statistics.median(baseline)


def describe(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.1f} s"
    return f"median {statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--releases", type=int, default=3)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    deploy("down")
    bootstrap, done = deploy()
    if done.returncode != 0:
        print(done.stdout, done.stderr)
        return 1
    assert serving(8000) == "v1"
    default_release, fast_release, engine, rollback = [], [], [], []
    for n in range(args.releases):
        seconds, done = deploy("release", "--image", f"sample-app:d{n}", "--approve", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        default_release.append(seconds)
        engine.append(engine_seconds(done))
        seconds, done = deploy("release", "--image", f"sample-app:f{n}", "--approve", "--health-interval", "2",
                               "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        fast_release.append(seconds)
        engine.append(engine_seconds(done))
        seconds, done = deploy("rollback", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        rollback.append(seconds)
    deploy("down")

    imports = {m: import_seconds(m) for m in HANDLERS}
    zip_size = len(package.build_zip())
    cache = sorted((ROOT / ".build").glob("deps-*"))
    with_deps = len(package.build_zip(cache[-1])) if cache else None

    rows = [
        ("`python deploy.py` from nothing to a serving production URL", f"{bootstrap:.1f} s"),
        ("release --approve, sandbox defaults (10 s health polls, 10 s bake)", describe(default_release)),
        ("release --approve, 2 s health polls, 10 s bake", describe(fast_release)),
        ("engine time per release (execution minus its Wait states and the approval wait)",
         describe([e for e in engine if e == e])),
        ("rollback (no approval)", describe(rollback)),
        *[(f"cold import of `{m}` (beyond a bare interpreter)", f"{s * 1000:.0f} ms") for m, s in imports.items()],
        ("deployment package, handlers only (sandbox)", f"{zip_size / 1024:.0f} KiB"),
        ("deployment package with dependencies (AWS, arm64)",
         f"{with_deps / 1024 / 1024:.1f} MiB" if with_deps else "not built yet: run `python deploy.py --aws ...`"),
    ]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    lines = [f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine}.", "", "| what | figure |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text("# Benchmark results\n\nReproduce with `make bench` (or `python bench/run.py`).\n\n"
                              + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
