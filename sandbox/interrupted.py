"""Releases a sandbox restart interrupted, ended by the engine's own functions as a failed step would be.

Each such execution was ended as ABORTED when the state was restored (`persist`). Its last state's input is the
release's whole state then. With it, as the state machine would have done on a failure:
- if traffic was moving (a swap, a shift or a rollback under way, or production split between blue and green),
  production goes back to blue alone (the roll-back function, safe to run again): nothing watches the release
  any more, and a half-made move must not stay;
- the notify function releases the lock, fails the pipeline's job if a pipeline started the release, and tells
  the operators why the release ended and where production points now.
Production that was whole and settled (on blue before the swap, on the approved version during the bake) stays
where it was. A release already failing (a rejection, a failed check) keeps its own error; one interrupted while
it was being reported is reported again as it was. This runs at least once: a crash during it runs it again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from moto.stepfunctions.parser.backend.execution import Execution

from deployer.history import stage_of

from .persist import INTERRUPTED, last_state, record_cause

LOG = logging.getLogger("sandbox.interrupted")
# The engine's states (statemachines/release.asl.json) whose functions end the release, and those moving traffic.
ROLL_BACK, NOTIFY = "Roll traffic back", "Notify the operators"
MOVING = ("Swap traffic", "Shift traffic", ROLL_BACK)
# The report's step (release.report.Step) for a release stopped in each stage before traffic moved.
_STEPS = {"discover": "discover", "health": "health", "hooks": "hook", "approval": "approval"}


def end(executions: list[Execution], lambda_: Any, elbv2: Any) -> list[str]:
    """End each interrupted release through its state machine's functions; what was done, one line each."""
    done = []
    for execution in executions:
        name = execution.exec_arn.rsplit(":", 1)[-1]
        try:
            done.append(f"{name}: {_end(execution, lambda_, elbv2)}")
        except Exception as exc:  # one release's failure must not keep the others (or the sandbox) down
            LOG.exception("could not end the interrupted release %s", execution.exec_arn)
            done.append(f"{name}: ended as interrupted, but not reported ({type(exc).__name__}: {exc}); the next "
                        "release takes its lock over, as a stopped release's")
    return done


def _end(execution: Execution, lambda_: Any, elbv2: Any) -> str:
    found = last_state(execution)
    if found is None:  # it had not entered a state: nothing was taken or moved
        return "ended as interrupted before its first state"
    name, state = found
    functions = _functions(execution.state_machine.definition)
    stage = stage_of(name, "discover")
    if stage != "report":  # at the report, the state is the outcome: report it as it was
        moving = bool(state.get("topology")) and (
            name in MOVING or _split(elbv2, state["topology"]["production"]["arn"]))
        if moving:
            state = {**state, "rollback": _invoke(lambda_, functions[ROLL_BACK], {"state": state})}
        if not state.get("error"):  # a release already failing keeps its own error
            moved = moving or bool(state.get("swap") or state.get("shift")) or stage in ("traffic", "bake")
            state = {**state, "error": {"Error": INTERRUPTED, "Cause": execution.cause},
                     "failedStep": "swap" if name == "Swap traffic" else "traffic" if moved
                     else _STEPS.get(stage, "discover")}
    outcome = _invoke(lambda_, functions[NOTIFY], {"state": state, "execution": execution.exec_arn})
    message = str(outcome.get("message") or "")
    record_cause(execution, f"{execution.cause} Then: {message}" if state.get("error", {}).get("Error")
                 != INTERRUPTED else message)  # what the operators were told, as DescribeExecution's cause
    LOG.info("ended the interrupted release %s: %s", execution.exec_arn, message)
    return message


def _functions(definition: str) -> dict[str, str]:
    states = json.loads(definition)["States"]
    return {name: states[name]["Parameters"]["FunctionName"] for name in (ROLL_BACK, NOTIFY)}


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
