"""Pure lifecycle-hook logic: which hooks a release runs, what a hook is told, and what its answer means.

A hook is a Lambda function the state machine invokes at a stage of the release. Its answer follows the
contract of Amazon ECS's lifecycle hooks: `{"hookStatus": "SUCCEEDED" | "FAILED" | "IN_PROGRESS"}`, with an
optional `callBackDelay` (seconds before an IN_PROGRESS hook is asked again, 30 by default), `hookDetails`
(handed back on the next call) and, ours, `reason` (said in the release's outcome when the hook fails).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypedDict

from .exceptions import HookFailed, HookNotFound
from .topology import listener_url

NO_HOOK = "none"  # the command line's STAGE=none: no hook at that stage
DEFAULT_TIMEOUT_SECONDS = 600
MAX_TIMEOUT_SECONDS = 3600
DEFAULT_CALLBACK_DELAY = 30  # ECS's default
MAX_CALLBACK_DELAY = 900
REASON_LIMIT = 500
DETAILS_LIMIT = 4096
# An answer is kept in the execution's state (256 KiB in all): a larger one fails the hook, not the execution.
ANSWER_LIMIT = 8192
# A function name, optionally with a version or alias, or its ARN (Lambda's own forms).
_FUNCTION = re.compile(r"^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?([a-zA-Z0-9_-]{1,64})"
                       r"(:[a-zA-Z0-9$_-]+)?$")


class Stage(StrEnum):
    AFTER_TEST_TRAFFIC = "after-test-traffic"  # green healthy on the test listener, before approval
    AFTER_PRODUCTION_SHIFT = "after-production-shift"  # after each shift step and the swap, before the bake
    ON_ROLLBACK = "on-rollback"  # traffic went back to blue


# The request's stage names are the command line's; the configuration's keys are ASL-friendly.
CONFIG_KEYS = {Stage.AFTER_TEST_TRAFFIC: "afterTestTraffic", Stage.AFTER_PRODUCTION_SHIFT: "afterProductionShift",
               Stage.ON_ROLLBACK: "onRollback"}


class HookConfig(TypedDict):
    function: str
    timeoutSeconds: int
    details: dict[str, Any]  # the first call's hookDetails (ECS's hookDetails: the hook's own parameters)


class HookRun(TypedDict, total=False):
    stage: str
    function: str
    timeoutSeconds: int  # as the stage's Pass state sets it, before the first call
    startedAt: int  # epoch seconds of the first call
    deadline: int  # epoch seconds: no answer but SUCCEEDED by then fails the hook
    attempt: int
    action: str  # "invoke", "wait" or "done"
    waitSeconds: int
    invokeTimeoutSeconds: int  # the next call may take at most this long (what is left of the timeout)
    hookDetails: dict[str, Any]
    answer: Any  # what the last call returned
    payload: dict[str, Any]


class Action(StrEnum):
    INVOKE = "invoke"
    WAIT = "wait"
    DONE = "done"


def function_name(reference: str) -> str | None:
    """The function's name in a name or ARN, or None when it is neither."""
    match = _FUNCTION.match(reference)
    return match.group(2) if match else None


def parse_hooks(raw: Any, problems: list[str], rollback: bool) -> dict[str, HookConfig | None]:
    """The request's `hooks`: {"after-test-traffic": "my-hook" | {"function": ..., "timeoutSeconds": ...}}."""
    hooks: dict[str, HookConfig | None] = dict.fromkeys(CONFIG_KEYS.values())
    if raw is None:
        return hooks
    if not isinstance(raw, dict):
        problems.append("'hooks' must be an object such as {\"after-test-traffic\": \"my-smoke-test\"}")
        return hooks
    stages = ", ".join(s.value for s in Stage)
    for stage_name, value in raw.items():
        if stage_name not in {s.value for s in Stage}:
            problems.append(f"unknown hook stage {stage_name!r} (stages: {stages})")
            continue
        spec = {"function": value} if isinstance(value, str) else value
        if not isinstance(spec, dict) or set(spec) - {"function", "timeoutSeconds", "details"}:
            problems.append(f"'hooks.{stage_name}' must be a function name or "
                            "{\"function\": NAME, \"timeoutSeconds\": N, \"details\": {...}}")
            continue
        details = spec.get("details", {})
        if not isinstance(details, dict) or len(json.dumps(details)) > DETAILS_LIMIT:
            problems.append(f"'hooks.{stage_name}.details' must be an object of at most {DETAILS_LIMIT} characters "
                            "of JSON")
            continue
        function = spec.get("function")
        if not isinstance(function, str) or function_name(function) is None:
            problems.append(f"'hooks.{stage_name}.function' must be a Lambda function's name or ARN, "
                            f"got {function!r}")
            continue
        timeout = spec.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
            problems.append(f"'hooks.{stage_name}.timeoutSeconds' must be a whole number from 1 to "
                            f"{MAX_TIMEOUT_SECONDS}, got {timeout!r}")
            continue
        if rollback and stage_name != Stage.ON_ROLLBACK:
            # A rollback restores the known-good version at once: nothing may hold it up.
            problems.append(f"a rollback runs no '{stage_name}' hook: leave it out")
            continue
        hooks[CONFIG_KEYS[Stage(stage_name)]] = {"function": function, "timeoutSeconds": timeout, "details": details}
    return hooks


def hook_prefix(system_name: str) -> str:
    """The names hooks must have: the state machine's role may invoke only these (cfn/engine.yaml)."""
    return f"{system_name}-hook-"


def verify_hooks(hooks: Mapping[str, HookConfig | None], prefix: str, lookup: Callable[[str], str | None]) -> None:
    """Refuse, before anything changes, a hook this system may not invoke or that does not exist.

    The state machine may invoke only functions whose names start with the stack's prefix (least privilege).
    """
    stages = {key: stage for stage, key in CONFIG_KEYS.items()}
    for key, hook in hooks.items():
        if hook is None:
            continue
        function, stage = hook["function"], stages[key].value
        if not (function_name(function) or "").startswith(prefix):
            raise HookNotFound(
                f"The {stage} hook {function} cannot be invoked by this system: it may invoke only functions whose "
                f"names start with {prefix!r} (the stack's HookFunctionPrefix). Name the hook so, or deploy with "
                "another prefix. Nothing was changed.")
        if lookup(function) is None:
            raise HookNotFound(f"The {stage} hook {function} does not exist in this account and region. Check the "
                               "function's name (deploy it first). Nothing was changed.")


def parse_hook_option(text: str) -> tuple[str, str]:
    """The command line's STAGE=FUNCTION."""
    stage, sep, function = text.partition("=")
    stages = ", ".join(s.value for s in Stage)
    if not sep or not function:
        raise ValueError(f"--hook wants STAGE=FUNCTION (stages: {stages}), got {text!r}")
    if stage not in {s.value for s in Stage}:
        raise ValueError(f"unknown hook stage {stage!r} (stages: {stages})")
    if function_name(function) is None:
        raise ValueError(f"{function!r} is not a Lambda function's name or ARN")
    return stage, function


def hooks_request(text: str) -> dict[str, str]:
    """A stack's Hooks parameter ("after-test-traffic=NAME,on-rollback=NAME") as the request's `hooks`."""
    return dict(parse_hook_option(item.strip()) for item in text.split(",") if item.strip())


def compute_payload(run: HookRun, config: dict[str, Any], topology: dict[str, Any], execution: str,
                    state: dict[str, Any]) -> dict[str, Any]:
    """What the hook is told: the release, both sides, where to reach them, and where traffic stands."""
    shift = state.get("shift") or {}
    rollback = state.get("rollback") or {}

    def side(name: str) -> dict[str, Any]:
        ref = topology[name]
        return {"targetGroup": ref["targetGroupName"], "targetGroupArn": ref["targetGroupArn"],
                "service": ref["service"]["serviceName"], "images": ref["service"]["images"]}

    payload: dict[str, Any] = {
        "stage": run["stage"],
        "execution": execution,
        "attempt": run.get("attempt", 1),
        "action": config["action"],
        "description": config["description"],
        "loadBalancer": topology["loadBalancerName"],
        "cluster": config["cluster"],
        "strategy": config["traffic"]["strategy"],
        "productionUrl": listener_url(topology, "production"),
        "testUrl": listener_url(topology, "test"),
        "blue": side("blue"),  # the side that served production when the release started
        "green": side("green"),  # the side being released
        "greenTrafficPercent": _green_percent(run["stage"], config["action"], shift, state),
        "hookDetails": run.get("hookDetails") or {},
    }
    if run["stage"] == Stage.ON_ROLLBACK:  # after a failed release, or a rollback request (green: the restored side)
        payload["rollbackReason"] = rollback.get("reason") or config["description"] or "rollback requested"
    return payload


def _green_percent(stage: str, action: str, shift: dict[str, Any], state: dict[str, Any]) -> int:
    if stage == Stage.ON_ROLLBACK:  # a rollback request moved all traffic to green, the previous version
        return 100 if action == "rollback" else 0
    if stage == Stage.AFTER_TEST_TRAFFIC:
        return 0
    return 100 if state.get("swap") is not None else int(shift.get("percent") or 0)


def start_run(stage: Stage, hook: HookConfig, now: int) -> HookRun:
    return {"stage": stage.value, "function": hook["function"], "startedAt": now,
            "deadline": now + hook["timeoutSeconds"], "attempt": 0, "hookDetails": hook["details"]}


def next_step(run: HookRun, now: int) -> HookRun:
    """After a call (or before the first): call it again, wait, or done; raise HookFailed with the reason."""
    stage, function = run["stage"], run["function"]
    if run.get("attempt", 0) == 0:
        return _invoke(run, now)
    answer = run.get("answer")
    if len(json.dumps(answer)) > ANSWER_LIMIT:
        raise HookFailed(f"The {stage} hook {function} answered {len(json.dumps(answer))} characters of JSON; the "
                         f"hooks' contract allows {ANSWER_LIMIT} (keep hookDetails small: an id, not a report).")
    status = answer.get("hookStatus") if isinstance(answer, dict) else None
    if status != "FAILED" and now > run["deadline"]:  # a call retried past the timeout: too late to count
        raise HookFailed(f"The {stage} hook {function} did not answer SUCCEEDED within its "
                         f"{run['deadline'] - run['startedAt']} s timeout.")
    if status == "SUCCEEDED":
        return {**run, "action": Action.DONE.value, "answer": None}
    if status == "FAILED":
        reason = answer.get("reason") if isinstance(answer, dict) else None
        said = f": {_clip(reason)}" if isinstance(reason, str) and reason.strip() else " (it gave no reason)"
        raise HookFailed(f"The {stage} hook {function} answered FAILED{said}.")
    if status != "IN_PROGRESS":
        raise HookFailed(f"The {stage} hook {function} answered {_clip(repr(answer), 200)}, not a hookStatus of "
                         "SUCCEEDED, FAILED or IN_PROGRESS. Fix the hook to answer as the hooks' contract says.")
    assert isinstance(answer, dict)
    delay = answer.get("callBackDelay", DEFAULT_CALLBACK_DELAY)
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_CALLBACK_DELAY:
        raise HookFailed(f"The {stage} hook {function} answered IN_PROGRESS with callBackDelay {delay!r}; it must "
                         f"be a whole number of seconds from 0 to {MAX_CALLBACK_DELAY}.")
    details = answer.get("hookDetails", run.get("hookDetails") or {})
    if not isinstance(details, dict):
        raise HookFailed(f"The {stage} hook {function} answered hookDetails that are not an object.")
    if now + delay >= run["deadline"]:
        raise HookFailed(f"The {stage} hook {function} was still IN_PROGRESS when its "
                         f"{run['deadline'] - run['startedAt']} s timeout ran out.")
    # The call after the wait is the next attempt; it may take what is left of the timeout after the wait.
    return {**run, "action": Action.WAIT.value, "attempt": run["attempt"] + 1, "waitSeconds": delay,
            "hookDetails": details, "answer": None, "invokeTimeoutSeconds": run["deadline"] - now - delay}


def _invoke(run: HookRun, now: int) -> HookRun:
    left = run["deadline"] - now
    if left <= 0:
        raise HookFailed(f"The {run['stage']} hook {run['function']} did not answer SUCCEEDED within its "
                         f"{run['deadline'] - run['startedAt']} s timeout.")
    return {**run, "action": Action.INVOKE.value, "attempt": run.get("attempt", 0) + 1, "invokeTimeoutSeconds": left,
            "answer": None}


def describe_call_error(run: HookRun, error: dict[str, Any]) -> str:
    """A call that did not answer: the function failed, timed out, or could not be invoked."""
    name, cause = str(error.get("Error") or "an error"), error.get("Cause") or ""
    if name == "States.Timeout":
        return (f"The {run['stage']} hook {run['function']} did not answer within its "
                f"{run['deadline'] - run['startedAt']} s timeout.")
    detail = f": {_clip(_cause_message(cause))}" if cause else ""
    return f"The {run['stage']} hook {run['function']} could not be called or failed with {name}{detail}."


def _cause_message(cause: str) -> str:
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


def _clip(text: str, limit: int = REASON_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
