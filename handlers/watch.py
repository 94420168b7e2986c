"""Lambda: one look at green while it takes production traffic (during a shift step or the bake).

Green's targets must stay healthy, no named alarm may be in ALARM, and nobody may have asked to
abort. Anything else sends the state machine to the rollback.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.gateways.alarms import Alarms
from release.gateways.elbv2 import LoadBalancing
from release.gateways.locks import LockStore
from release.health import evaluate_targets
from release.observability import logger, tracer
from release.settings import setting
from release.shifting import compute_watch, evaluate_alarms


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config, topology, phase = event["config"], event["topology"], event["phase"]
    traffic = config["traffic"]
    green = topology["green"]
    checks = [evaluate_targets(green["targetGroupName"], LoadBalancing().target_health(green["targetGroupArn"])),
              evaluate_alarms(Alarms().describe(traffic["alarms"]), traffic["alarms"])]
    lock = event.get("lock") or {}
    abort = LockStore(setting("LOCKS_TABLE")).abort_request(lock["key"], lock["holder"]) if lock else None
    step_percent = int((event.get("shift") or {}).get("percent", 100)) if phase == "shift" else 100
    duration = traffic["intervalSeconds"] if phase == "shift" else traffic["bakeSeconds"]
    watch = compute_watch(event.get("watch") or {}, phase, step_percent, duration, traffic["checkIntervalSeconds"],
                          checks, abort, time.time())
    logger.info("Watched green", extra={"phase": phase, "ok": watch["ok"], "reason": watch["reason"],
                                        "done": watch["done"]})
    return dict(watch)
