"""Benchmarks of the release system in the embedded sandbox. Prints Markdown tables.

    python bench/run.py [--only runtimes,speed,latency,judge,cost,scale,restart,startup,suite] [--repeats 3]
                        [--scale 1,5,20]
                        [--write bench/RESULTS.md]

It replaces whatever runs in the sandbox (`deploy.py down` first) and stops it at the end. With --write, the
sections measured replace those of the same title in the file; the others are kept.
- runtimes: the sandbox's two Lambda runtimes (fresh interpreter, warm environments) side by side
- speed: bootstrap time; release and rollback times; the engine's own time inside a release
- latency: approval -> production listener, alarm -> back on blue, green healthy -> approval request
- judge: time to roll back a version that fails 5% of requests or is 300 ms slower; false-rollback rate
- cost: state transitions, Lambda invocations and duration, AWS API calls; per extra minute of waiting
- scale: N releases at once on N systems in one sandbox
- restart: a sandbox with 3 systems killed and started again: state size, snapshot cost, time to serve again
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

from bench import common, cost, judge, latency, restart, runtimes, scale  # noqa: E402
from deployer import package  # noqa: E402

HANDLERS = ["discover", "lock", "check_health", "request_approval", "approval_api", "swap_traffic", "shift_traffic",
            "watch", "roll_back", "notify"]
SECTIONS = ("runtimes", "speed", "latency", "judge", "cost", "scale", "restart", "startup", "suite")
# start from an empty sandbox (the suite's sandbox tests need its ports)
FRESH = {"runtimes", "speed", "scale", "restart", "suite"}


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
        ("`python3 deploy.py` from nothing to production serving, every target healthy", f"{bootstrap:.1f} s"),
        ("release --approve, sandbox defaults (10 s health polls, 10 s bake)", common.describe(default_release)),
        ("release --approve, 2 s health polls, 10 s bake", common.describe(fast_release)),
        ("engine time per release: execution minus its Wait states and the approval wait",
         common.describe(engine)),
        ("rollback (no approval, no bake)", common.describe(rollback)),
    ]
    return ["### Speed", "", *common.table(("what", "figure"), rows)]


def import_seconds(python: str, code: str, runs: int = 9) -> float:
    """Median seconds `code` takes in a new interpreter on `python`, as a cold start imports it: timed inside
    the process, so the interpreter's own start (and its noise) is left out."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "handlers"),
           "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    timed = f"import time; started = time.perf_counter(); {code}; print(time.perf_counter() - started)"
    subprocess.run([python, "-c", code], env=env, check=True)  # bytecode compiled, files in the page cache
    return statistics.median(float(subprocess.run([python, "-c", timed], env=env, check=True, capture_output=True,
                                                  text=True).stdout) for _ in range(runs))


def lambda_python() -> tuple[str, str] | None:
    """A Python of the Lambda runtime's version (cfn/engine.yaml) with the handlers' dependencies and boto3, in
    .build/bench-<runtime>; None when this machine has no such Python."""
    runtime = re.search(r"Runtime: (python3\.\d+)", (ROOT / "cfn" / "engine.yaml").read_text())
    if runtime is None:
        return None
    name = runtime.group(1)
    candidates = [*sorted(Path.home().glob(f".pyenv/versions/{name[6:]}*/bin/{name}")), shutil.which(name)]
    found = next((c for c in candidates if c and subprocess.run([str(c), "-c", "pass"], capture_output=True,
                                                                check=False).returncode == 0), None)
    if found is None:  # a pyenv shim without that version selected fails to run
        return None
    venv = ROOT / ".build" / f"bench-{name}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([str(found), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "boto3",
                        "-r", str(ROOT / "handlers" / "requirements.txt")], check=True)
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return str(python), version


PARTS = [("boto3 alone", "import boto3"), ("Powertools' Logger alone", "from aws_lambda_powertools import Logger"),
         ("boto3 and Powertools' Logger, what every handler needs", "import boto3; from aws_lambda_powertools import "
                                                                     "Logger")]


def startup(_: int) -> list[str]:
    pythons = [(sys.executable, platform.python_version())]
    other = lambda_python()
    if other is not None:
        pythons.append(other)
    rows = [(f"cold import of `{m}`", *(f"{import_seconds(p, f'import {m}') * 1000:.0f} ms" for p, _ in pythons))
            for m in HANDLERS]
    rows += [(label, *(f"{import_seconds(p, code) * 1000:.0f} ms" for p, _ in pythons)) for label, code in PARTS]
    zip_size = len(package.build_zip())
    cache = sorted((ROOT / ".build").glob("deps-*"))
    with_deps = len(package.build_zip(cache[-1])) if cache else None
    sizes = [("deployment package, handlers only (sandbox)", f"{zip_size / 1024:.0f} KiB"),
             ("deployment package with dependencies (AWS, arm64)",
              f"{with_deps / 1024 / 1024:.1f} MiB" if with_deps
              else "not built yet: run `python3 deploy.py --aws ...`")]
    return ["### Handler start-up and package", "",
            "Time each import takes in a new interpreter, measured inside it (median of 9, after one run that "
            "compiles the bytecode), with tracing off as in the sandbox.", "",
            *common.table(("what", *(f"Python {v}" for _, v in pythons)), rows), "",
            *common.table(("what", "figure"), sizes)]


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
        "runtimes": lambda repeats: runtimes.run(repeats, (1, max(sizes))),
        "speed": speed, "latency": latency.run, "judge": judge.run, "cost": cost.run,
        "scale": lambda _: scale.run(sizes), "restart": restart.run, "startup": startup, "suite": suite}

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    print(f"Measuring on {machine}, in the sandbox (`python3 deploy.py`).\n", flush=True)
    sections: list[list[str]] = []
    try:
        for name in chosen:
            if name in FRESH:
                common.deploy("down")
            if name in ("latency", "judge", "cost"):
                common.deploy_ok()  # the default system, created if missing
            started = time.perf_counter()
            section = runners[name](args.repeats)
            section += ["", f"_{name}: measured in {time.perf_counter() - started:.0f} s on "
                            f"{datetime.now(UTC):%Y-%m-%d}, {machine}_", ""]
            print("\n".join(section), flush=True)
            sections.append(section)
    finally:
        common.deploy("down")
    if args.write:
        write(args.write, sections)
    return 0


HEADER = ["# Benchmark results", "", "Reproduce with `make bench` (or `python bench/run.py`; `--help` lists the "
          "sections). Each section says when and where it was measured.", ""]


def write(path: Path, sections: list[list[str]]) -> None:
    """Put the sections measured in place of those with the same title; keep the others, new ones first."""
    fresh = {section[0]: "\n".join(section).rstrip() for section in sections}
    kept = ["### " + part.rstrip() for part in path.read_text().split("\n### ")[1:]] if path.exists() else []
    kept_titles = {part.split("\n", 1)[0] for part in kept}
    merged = [text for title, text in fresh.items() if title not in kept_titles]
    merged += [fresh.get(part.split("\n", 1)[0], part) for part in kept]
    path.write_text("\n".join(HEADER) + "\n" + "\n\n".join(merged) + "\n")


if __name__ == "__main__":
    sys.exit(main())
