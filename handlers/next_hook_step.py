"""Lambda: a lifecycle hook's next step: call it (again), wait before calling it again, or go on; or fail.

The state machine itself invokes the hook (Lambda's Invoke, under its own role) with the payload this function
computes, and brings the answer back here: a hook's answer is checked against the contract in one place.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.exceptions import HookFailed
from release.hooks import Action, HookRun, Stage, compute_payload, describe_call_error, next_step, start_run
from release.observability import logger, tracer


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> HookRun:
    state = event["state"]
    run: HookRun = state["hookRun"]
    now = int(time.time())
    if not run.get("attempt"):
        run = start_run(Stage(run["stage"]), {"function": run["function"], "details": run.get("hookDetails") or {},
                                              "timeoutSeconds": int(run["timeoutSeconds"])}, now)
    else:
        answer = state.get("hookAnswer") or {}
        if "Error" in answer:  # the call itself failed: Lambda's error, a function error, or the timeout
            raise HookFailed(describe_call_error(run, answer))
        run = {**run, "answer": answer.get("payload")}
    try:
        run = next_step(run, now)
    except HookFailed as exc:
        logger.warning("Hook failed", extra={"stage": run["stage"], "function": run["function"], "error": str(exc)})
        raise
    if run["action"] != Action.DONE:
        run["payload"] = compute_payload(run, state["config"], state["topology"], event["execution"], state)
    logger.info("Hook step", extra={"stage": run["stage"], "function": run["function"], "action": run["action"],
                                    "attempt": run["attempt"]})
    # The state machine selects every field, so each is always there.
    return {"waitSeconds": 0, "invokeTimeoutSeconds": 1, "hookDetails": {}, "payload": {}, **run}
