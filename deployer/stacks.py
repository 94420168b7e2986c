"""CloudFormation through change sets: show what will change, apply it, and narrate progress."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from .console import Console
from .errors import DeployError

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    PLANNED = "planned"  # a dry run: nothing was done


@dataclass
class StackResult:
    outcome: Outcome
    changes: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


Parameters = dict[str, str | None]  # None: keep the stack's current value


def describe(cfn: Any, name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    stack: dict[str, Any] | None = stacks[0] if stacks else None
    return stack


def outputs(stack: dict[str, Any] | None) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])}


def deploy(cfn: Any, console: Console, name: str, template_url: str, parameters: Parameters, create: bool,
           sleep: Callable[[float], None] = time.sleep, timeout: float = 3600) -> StackResult:
    """Create a change set, show its changes, execute it and follow the stack until it settles."""
    # unique: CloudFormation refuses a second change set of the same name on a stack (two deploys in a second)
    change_set = f"deploy-{int(time.time())}-{uuid.uuid4().hex[:8]}"
    cfn.create_change_set(
        StackName=name, ChangeSetName=change_set, TemplateURL=template_url,
        ChangeSetType="CREATE" if create else "UPDATE", Capabilities=CAPABILITIES,
        Parameters=[{"ParameterKey": k, "UsePreviousValue": True} if v is None and not create
                    else {"ParameterKey": k, "ParameterValue": v or ""} for k, v in parameters.items()],
        IncludeNestedStacks=True)
    described = _wait_for_change_set(cfn, name, change_set, sleep, timeout)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
        if any(text in reason for text in NO_CHANGES):
            return StackResult(Outcome.UNCHANGED, outputs=outputs(describe(cfn, name)))
        raise DeployError(f"CloudFormation could not plan the change to {name}: {reason}. Nothing was changed.")
    changes = [f"{c['ResourceChange']['Action']:<7} {c['ResourceChange']['ResourceType']:<45} "
               f"{c['ResourceChange']['LogicalResourceId']}"
               for c in described.get("Changes", []) if "ResourceChange" in c]
    for change in changes:
        console.say(f"    {change}")
    since = time.time() - 5
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    final = _follow(cfn, console, name, since, sleep, timeout)
    if final["StackStatus"] not in TERMINAL_OK:
        reasons = _failure_reasons(cfn, name)
        raise DeployError(f"Stack {name} ended {final['StackStatus']}:\n  " + "\n  ".join(reasons or ["(no reason)"])
                          + "\nCloudFormation rolled back what it could; fix the cause above and deploy again.")
    return StackResult(Outcome.CREATED if create else Outcome.UPDATED, changes, outputs(final))


def _wait_for_change_set(cfn: Any, name: str, change_set: str, sleep: Callable[[float], None],
                         timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        if described["Status"] in {"CREATE_COMPLETE", "FAILED"}:
            return described
        if time.monotonic() > deadline:
            raise DeployError(f"The change set for {name} was not ready after {timeout:.0f} s.")
        sleep(2)


def _follow(cfn: Any, console: Console, name: str, since: float, sleep: Callable[[float], None],
            timeout: float) -> dict[str, Any]:
    """Print resource events as they happen until the stack settles."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        for event in reversed(events):
            if event["EventId"] in seen or event["Timestamp"].timestamp() < since:
                continue
            seen.add(event["EventId"])
            reason = f"  {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
            console.step(f"{event['ResourceStatus']:<28} {event['ResourceType']:<40} "
                         f"{event['LogicalResourceId']}{reason}")
        stack = describe(cfn, name) or {}
        status = stack.get("StackStatus", "")
        if status and not status.endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise DeployError(f"Stack {name} still {status} after {timeout:.0f} s; follow it in the console.")
        sleep(3)


def _failure_reasons(cfn: Any, name: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events
            if e["ResourceStatus"].endswith("_FAILED")][:10]


def delete(cfn: Any, console: Console, name: str, sleep: Callable[[float], None] = time.sleep,
           timeout: float = 3600) -> bool:
    """Delete a stack and wait; False when there was nothing to delete."""
    if describe(cfn, name) is None:
        return False
    since = time.time() - 5
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while (stack := describe(cfn, name)) is not None and stack["StackStatus"] != "DELETE_COMPLETE":
        if stack["StackStatus"] == "DELETE_FAILED":
            raise DeployError(f"Deleting {name} failed: " + "; ".join(_failure_reasons(cfn, name)) +
                              ". Delete it again in the CloudFormation console, retaining the resources it names.")
        for event in reversed(cfn.describe_stack_events(StackName=name)["StackEvents"]):
            if event["EventId"] not in seen and event["Timestamp"].timestamp() >= since:
                seen.add(event["EventId"])
                console.step(f"{event['ResourceStatus']:<28} {event['ResourceType']:<40} {event['LogicalResourceId']}")
        if time.monotonic() > deadline:
            raise DeployError(f"Stack {name} was still deleting after {timeout:.0f} s.")
        sleep(3)
    return True
