"""Lambda: one look at green while it takes production traffic (during a shift step or the bake).

Green's targets must stay healthy, no named alarm may be in ALARM, nobody may have asked to abort, and the judge
(when on) must not find green significantly worse than blue on the load balancer's metrics. Anything else sends
the state machine to the rollback.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.checks import judge_green
from release.gateways.alarms import Alarms
from release.gateways.elbv2 import LoadBalancing
from release.gateways.locks import LockStore
from release.gateways.metrics import Metrics
from release.health import evaluate_targets
from release.observability import logger, tracer
from release.settings import setting
from release.shifting import compute_watch, evaluate_alarms, watch_clock


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, topology, phase = event["config"], event["topology"], event["phase"]
    traffic = config["traffic"]
    green = topology["green"]
    now = time.time()
    checks = [evaluate_targets(green["targetGroupName"], LoadBalancing().target_health(green["targetGroupArn"])),
              evaluate_alarms(Alarms().describe(traffic["alarms"]), traffic["alarms"])]
    lock = event.get("lock") or {}
    abort = LockStore(setting("LOCKS_TABLE")).abort_request(lock["key"], lock["holder"]) if lock else None
    step_percent = int((event.get("shift") or {}).get("percent", 100)) if phase == "shift" else 100
    duration = traffic["intervalSeconds"] if phase == "shift" else traffic["bakeSeconds"]
    previous = event.get("watch") or {}
    judgement = None
    if traffic["judge"]["enabled"]:
        since, first_move = watch_clock(previous, phase, step_percent, now)
        judgement = judge_green(topology, traffic["judge"], phase, since, first_move, now, traffic["bakeSeconds"],
                                Metrics())
    watch = compute_watch(previous, phase, step_percent, duration, traffic["checkIntervalSeconds"], checks, abort,
                          now, judgement, traffic["judge"])
    logger.info("Watched green", extra={"phase": phase, "ok": watch["ok"], "reason": watch["reason"],
                                        "done": watch["done"], "judge": judgement})
    return dict(watch)

