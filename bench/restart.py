"""Restart: a sandbox with three systems, each with a release behind it, killed (`kill -9`) and started again.
Shows the saved state's size, what a snapshot costs, and how long until every system serves again."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

from bench import common, scale
from sandbox import control, owners, statefile

SYSTEMS = ("shop", scale.system_name(0), scale.system_name(1))


def serving(system: str) -> bool:
    """Production answers and every live target is healthy."""
    _, result = common.deploy("status", "--name", system, "--json")
    if result.returncode != 0:
        return False
    live = json.loads(result.stdout)["sides"][0]
    if not live["targets"] or live["healthyTargets"] != live["targets"]:
        return False
    try:
        with urllib.request.urlopen(live["url"], timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def prepare() -> None:
    common.deploy_ok("up")
    for index in range(len(SYSTEMS) - 1):
        scale.bootstrap(index)
    for system in SYSTEMS:
        common.deploy_ok("release", "--name", system, "--image", f"sample-app:{system}-v2", "--approve",
                         "--bake", "0", "--health-interval", "2")


def restart_once() -> tuple[float, float, float]:
    """Kill the sandbox, start it again: seconds until it answers with its state, until `deploy.py` is done,
    until every system serves."""
    time.sleep(1.5)  # the last change saved
    os.kill(json.loads((control.STATE / "server.json").read_text())["pid"], signal.SIGKILL)
    started = time.perf_counter()
    process = common.start_deploy("up")
    common.wait_for(lambda: control.running(), timeout=120, what="the sandbox answering")
    answering = time.perf_counter() - started
    common.finish_any(process)
    deployed = time.perf_counter() - started
    common.wait_for(lambda: all(serving(s) for s in SYSTEMS), timeout=180, poll=0.2, what="every system serving")
    return answering, deployed, time.perf_counter() - started


def run(repeats: int = 3) -> list[str]:
    prepare()
    time.sleep(2)
    figures = common.get_json("/state.json")
    header = statefile.read(control.STATE)
    assert header is not None
    results = [restart_once() for _ in range(repeats)]
    tasks = len(owners.owned(control.STATE))
    rows = [("saved state (one file)", f"{header[0].size / 1e6:.1f} MB"),
            ("a snapshot: the sandbox held while it is taken", f"{figures['heldSeconds'] * 1000:.0f} ms "
             f"(max {figures['maxHeldSeconds'] * 1000:.0f} ms over {figures['saves']} snapshots)"),
            ("a snapshot, taken and written", f"{figures['seconds'] * 1000:.0f} ms "
             f"({figures['writes']} written; one is skipped when nothing changed)"),
            ("kill -9 -> the sandbox answers with its state restored", common.describe([r[0] for r in results])),
            ("kill -9 -> `python3 deploy.py` done (stacks unchanged)", common.describe([r[1] for r in results])),
            ("kill -9 -> all 3 systems serve, every target healthy", common.describe([r[2] for r in results]))]
    return ["### Restart: a sandbox with 3 systems killed and started again", "",
            f"Three systems ({', '.join(SYSTEMS)}), each with one approved release behind it, {tasks} task "
            f"processes; then `kill -9` of the sandbox's server and `python3 deploy.py`, {repeats} times. The "
            "restart stops the dead sandbox's tasks, loads the state, starts each service's tasks again and waits "
            "for their health checks (5 s interval, 2 healthy checks in a row).", "",
            *common.table(("what", "measured"), rows), ""]
