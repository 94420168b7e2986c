"""Scale: N releases at once on N independent systems (each its own load balancer, services and engine)
in one sandbox, for growing N. Shows how time and cost per release grow with concurrency."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bench import common

FIRST_PORT = 8100


def system_name(index: int) -> str:
    return f"b{index:02d}"


def bootstrap(index: int) -> float:
    """Deploy system `index` next to the others: its own ports, since every listener is a local port."""
    port = FIRST_PORT + 2 * index
    seconds, _ = common.deploy_ok("up", "--name", system_name(index), "--production-port", str(port),
                                  "--test-port", str(port + 1))
    return seconds


def release_all(count: int, tag: str) -> tuple[float, list[dict[str, object]], common.Usage, list[int]]:
    """Start `count` releases at once (approved as soon as asked); wall time until the last one ends."""
    metrics = common.metrics_mark()
    started = time.perf_counter()
    processes = [common.start_deploy("release", "--name", system_name(i), "--image", f"sample-app:{tag}-{i}",
                                     "--approve", "--bake", "0", "--health-interval", "2") for i in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(common.finish, processes))
    wall = time.perf_counter() - started
    usage = common.Usage.since(metrics)
    transitions = [sum(common.states_entered(str(r["execution"])).values()) for r in results]
    return wall, results, usage, transitions


def run(sizes: tuple[int, ...] = (1, 5, 20)) -> list[str]:
    deployed: list[float] = []
    rows: list[tuple[str, ...]] = []
    for size in sizes:
        while len(deployed) < size:
            deployed.append(bootstrap(len(deployed)))
        wall, results, usage, transitions = release_all(size, f"n{size}-{int(time.time()) % 100_000}")
        seconds = [float(str(r["seconds"])) for r in results]
        engine = [float(str(r["engineSeconds"])) for r in results]
        rows.append((str(size), f"{wall:.1f} s", f"{wall / size:.1f} s", common.describe(seconds),
                     common.describe(engine), f"{statistics.median(transitions):.0f}",
                     f"{usage.invocations / size:.1f}", f"{sum(usage.calls.values()) / size:.1f}",
                     f"{usage.wall_seconds / usage.invocations:.2f} s"))
    return ["### Scale: N releases at once on N systems in one sandbox", "",
            f"Each system was bootstrapped next to the others first ({common.describe(deployed)} per "
            "`deploy.py up`, the last ones with more systems already running). The releases are approved at once, "
            "2 s health polls, no bake. All of it shares this machine's cores, so the time per invocation grows with "
            "N here, where on AWS each invocation gets its own execution environment.", "",
            *common.table(("N", "wall time, all N", "wall time / N", "each release (deploy.py)",
                           "engine time per release", "transitions per release", "Lambda invocations per release",
                           "API calls per release", "sandbox time per invocation"), rows)]
