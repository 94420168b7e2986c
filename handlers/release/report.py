"""Pure outcome logic: what happened to a release, in words for operators and as a JSON report."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, TypedDict

from .exceptions import ApprovalRejected, ApprovalTimedOut, RolledBack


class Status(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    ROLLED_BACK = "ROLLED_BACK"


class Step(StrEnum):
    DISCOVER = "discover"
    LOCK = "lock"
    HEALTH = "health"
    APPROVAL = "approval"
    SWAP = "swap"
    ROLLBACK = "rollback"
    HOOK = "hook"
    TRAFFIC = "traffic"  # after traffic moved to green (a split, or the swap and the bake)


class Outcome(TypedDict):
    status: str
    error: str | None
    failedStep: str | None
    subject: str
    message: str
    report: dict[str, Any]


_STEP_WORDS = {Step.DISCOVER: "while discovering the topology",
               Step.LOCK: "while taking the release lock", Step.HEALTH: "while checking green's health",
               Step.APPROVAL: "while waiting for approval", Step.SWAP: "while swapping traffic",
               Step.ROLLBACK: "while rolling traffic back to blue",
               Step.HOOK: "in a lifecycle hook before approval", Step.TRAFFIC: "after traffic moved to green"}


def error_message(error: dict[str, Any] | None) -> str:
    """The human part of an ASL error's Cause (Lambda wraps it in JSON with a stack trace we drop)."""
    if not error:
        return ""
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)
    if isinstance(parsed, dict):
        if "errorMessage" in parsed:
            return str(parsed["errorMessage"])
        if "rejectedBy" in parsed:
            reason = f": {parsed.get('reason')}" if parsed.get("reason") else ""
            return f"rejected by {parsed['rejectedBy']}{reason}"
    return str(cause)


def compute_outcome(state: dict[str, Any], failed_step: str | None,
                    production_now: dict[str, Any] | None) -> Outcome:
    """Classify the release and word it. `production_now` is where the production listener points now."""
    config = state.get("config") or {}
    action = config.get("action") or state.get("action") or "release"
    noun = "Rollback" if action == "rollback" else "Release"
    topology = state.get("topology") or {}
    green = (topology.get("green") or {}).get("service") or {}
    target = f"{green.get('serviceName', 'green')} ({', '.join(green.get('images', [])) or 'unknown image'})"
    lb = topology.get("loadBalancerName") or config.get("loadBalancer") or state.get("loadBalancer") or "?"
    error = state.get("error")
    error_name = (error or {}).get("Error")
    detail = error_message(error)

    rollback = state.get("rollback")
    if rollback and failed_step is None and not error:
        status, error_name = Status.ROLLED_BACK, RolledBack.__name__
        blue = ", ".join(rollback.get("images", [])) or "blue"
        reason = str(rollback.get("reason") or "").rstrip(".")  # a sentence follows
        message = (f"{noun} of {target} on {lb} was rolled back: {reason}. Production is back on "
                   f"{rollback.get('production')} ({blue}).")
        subject = f"{noun} rolled back: {target}"
    elif failed_step is None and not error:
        status, error_name = Status.SUCCEEDED, None
        approval = state.get("approval") or {}
        by = f", approved by {approval['approvedBy']}" if approval.get("approvedBy") else ""
        message = f"{noun} succeeded on {lb}: production now serves {target}{by}."
        subject = f"{noun} succeeded: {target}"
    elif failed_step == Step.APPROVAL and error_name == "States.Timeout":
        status, error_name = Status.TIMED_OUT, ApprovalTimedOut.__name__
        message = f"{noun} of {target} on {lb} was not approved in time. Production is unchanged."
        subject = f"{noun} not approved in time: {target}"
    elif error_name == ApprovalRejected.__name__:
        status = Status.REJECTED
        message = f"{noun} of {target} on {lb} was {detail or 'rejected'}. Production is unchanged."
        subject = f"{noun} rejected: {target}"
    else:
        status = Status.FAILED
        where = next((words for step, words in _STEP_WORDS.items() if step.value == failed_step), "")
        unchanged = " Production is unchanged." if failed_step not in (Step.SWAP, Step.ROLLBACK, Step.TRAFFIC) else ""
        detail = detail if not detail or detail.endswith((".", "!", "?")) else f"{detail}."  # a sentence follows
        message = f"{noun} of {target} on {lb} failed {where} with {error_name}: {detail}{unchanged}".strip()
        if rollback:
            message += f" Traffic was rolled back to {rollback.get('production')}."
        subject = f"{noun} failed ({error_name}): {target}"
    hook_error = state.get("rollbackHookError")
    if hook_error:  # production is on blue all the same; the team's check after the rollback did not pass
        message += f" The on-rollback hook failed: {error_message(hook_error)}"
    if production_now:
        message += (f" The production listener now forwards to {production_now.get('targetGroupName')}"
                    f" ({', '.join(production_now.get('images', [])) or 'unknown image'}).")
    report = {
        "status": status.value,
        "action": action,
        "loadBalancer": lb,
        "error": error_name,
        "failedStep": failed_step,
        "message": message,
        "production": production_now,
        "health": state.get("health", {}).get("report") if isinstance(state.get("health"), dict) else None,
        "approval": state.get("approval"),
        "swap": state.get("swap"),
        "shift": state.get("shift"),
        "watch": state.get("watch"),
        "rollback": rollback,
        "onRollbackHookError": error_message(hook_error) if hook_error else None,
        "tagProblems": topology.get("tagProblems", []),
    }
    return {"status": status.value, "error": error_name, "failedStep": failed_step, "subject": subject,
            "message": message, "report": report}


def compose_notification(outcome: Outcome) -> str:
    return outcome["message"] + "\n\nRelease report:\n" + json.dumps(outcome["report"], indent=2, default=str)
