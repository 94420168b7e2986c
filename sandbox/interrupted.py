"""Releases a sandbox restart interrupted, ended by the engine's own functions as a failed step would be.

Each such execution was ended as ABORTED when the state was restored (`persist`). Its last state's input is the
release's whole state then. With it, as the state machine would have done on a failure:
- production that was split between blue and green goes back to blue alone (the roll-back function): nothing
  watches the canary any more, so it must not stay half moved;
- the notify function releases the lock, fails the pipeline's job if a pipeline started the release, and tells
  the operators why the release ended and where production points now.
Production that was whole (on blue before the swap, on green while baking) stays where it was.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from moto.stepfunctions.parser.backend.execution import Execution

from deployer.history import stage_of

from .persist import INTERRUPTED, NOTIFY_STATE, ROLL_BACK_STATE, last_state, record_cause

LOG = logging.getLogger("sandbox.interrupted")
# The report's step for a release that stopped at each stage (release.report.Step); "traffic" once it moved.
_STEPS = {"discover": "discover", "health": "health", "hooks": "hook", "approval": "approval",
          "rollback": "rollback", "report": None}


def end(executions: list[Execution], lambda_: Any, elbv2: Any) -> list[str]:
    """End each interrupted release through its state machine's functions; what was done, one line each."""
    done = []
    for execution in executions:
        try:
            done.append(_end(execution, lambda_, elbv2))
        except Exception as exc:
            LOG.exception("could not end the interrupted release %s", execution.exec_arn)
            done.append(f"{execution.exec_arn}: could not be reported ({type(exc).__name__}: {exc}); its lock is "
                        "taken over by the next release, as a stopped release's is")
    return done


def _end(execution: Execution, lambda_: Any, elbv2: Any) -> str:
    found = last_state(execution)
    if found is None:  # it had not entered a state: nothing was taken or moved
        return f"{execution.exec_arn}: ended before its first state"
    name, state = found
    functions = _functions(execution.state_machine.definition)
    moved = bool(state.get("swap") or state.get("shift"))
    state = {**state, "error": {"Error": INTERRUPTED, "Cause": execution.cause},
             "failedStep": "traffic" if moved else _STEPS.get(stage_of(name, "discover"))}
    if moved and state.get("topology") and _split(elbv2, state["topology"]["production"]["arn"]):
        state["rollback"] = _invoke(lambda_, functions[ROLL_BACK_STATE], {"state": state})
    outcome = _invoke(lambda_, functions[NOTIFY_STATE], {"state": state, "execution": execution.exec_arn})
    if outcome.get("message"):  # what the operators were told, where DescribeExecution and the history show it
        record_cause(execution, str(outcome["message"]))
    LOG.info("ended the interrupted release %s: %s", execution.exec_arn, outcome.get("message"))
    return f"{execution.exec_arn.rsplit(':', 1)[-1]}: {outcome.get('message')}"


def _functions(definition: str) -> dict[str, str]:
    states = json.loads(definition)["States"]
    return {name: states[name]["Parameters"]["FunctionName"] for name in (ROLL_BACK_STATE, NOTIFY_STATE)}


def _split(elbv2: Any, listener_arn: str) -> bool:
    listener = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
    forwards = [a for a in listener["DefaultActions"] if a.get("Type") == "forward"]
    groups = [g for a in forwards for g in (a.get("ForwardConfig") or {}).get("TargetGroups") or []]
    return sum(1 for g in groups if int(g.get("Weight", 1)) > 0) > 1


def _invoke(lambda_: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    answer = lambda_.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    result: dict[str, Any] = json.loads(answer["Payload"].read() or b"null") or {}
    if answer.get("FunctionError"):
        raise RuntimeError(f"{function} failed: {result.get('errorType')}: {result.get('errorMessage')}")
    return result
