"""Operating releases from the command line: status, release, approve/reject, rollback, abort.

Everything goes through the engine's own code: discovery to find green, its gateways to read AWS, the
state machine to release, and the same decision delivery as the approval page.
"""

from __future__ import annotations

import getpass
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from release import defaults
from release.approval import Decision
from release.config import judge_request, parse_request
from release.deciding import Delivery, deliver_decision
from release.discovery import discover
from release.exceptions import ReleaseError
from release.gateways.approvals import ApprovalStore
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.gateways.functions import Functions
from release.gateways.locks import LockStore
from release.gateways.workflow import Workflow
from release.hooks import HookConfig, hook_prefix, hooks_request, verify_hooks
from release.images import compute_images
from release.topology import Topology, forward_weights

from . import observe, system
from .console import Console
from .errors import DeployError
from .history import Reader
from .plan import deployed_settings
from .settings import Settings
from .stacks import Outcome
from .target import Target

APPROVAL = defaults.APPROVAL_STATE
_ENDED = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


@dataclass(frozen=True)
class System:
    """The deployed system: its coordinates (the parent stack's outputs) and its settings as deployed."""

    target: Target
    settings: Settings  # as the stack records them (ports, the release policy), read once
    outputs: Mapping[str, str]

    @classmethod
    def load(cls, target: Target, settings: Settings) -> System:
        parent = observe.stack(target.client("cloudformation"), settings.stack)
        if parent is None or "StateMachineArn" not in parent.outputs:
            raise DeployError(f"{settings.stack} is not deployed in {target.where}. Run `{target.deploy_hint}` "
                              "first.")
        return cls(target, replace(settings, **deployed_settings(parent)), parent.outputs)

    @property
    def production_port(self) -> int:
        return self.settings.production_port

    @property
    def test_port(self) -> int:
        return self.settings.test_port

    def base_request(self) -> dict[str, Any]:
        return {"loadBalancer": self.outputs["LoadBalancerName"], "cluster": self.outputs["ClusterName"],
                "productionPort": self.production_port, "testPort": self.test_port}

    def traffic_defaults(self) -> dict[str, Any]:
        """The stack's release policy: what a release uses unless it asks otherwise."""
        return {"strategy": self.settings.strategy, "bakeSeconds": self.settings.bake_seconds,
                "alarms": list(self.settings.alarm_names),
                "judge": judge_request(self.settings.judge, self.settings.judge_period_seconds)}

    def hook_defaults(self) -> dict[str, str]:
        """The stack's lifecycle hooks: a release's unless it names its own for a stage."""
        return hooks_request(self.settings.hooks)

    def topology(self, allow_split: bool = False) -> Topology:
        try:
            return discover(parse_request(self.base_request()), self.load_balancing(),
                            Containers(self.target.client("ecs")), allow_split)
        except ReleaseError as exc:
            raise DeployError(f"{type(exc).__name__}: {exc}") from exc

    def load_balancing(self) -> LoadBalancing:
        return LoadBalancing(self.target.client("elbv2"))

    def store(self) -> ApprovalStore:
        return ApprovalStore(self.outputs["ApprovalsTableName"], self.target.client("dynamodb"))

    def sfn(self) -> Any:
        return self.target.client("stepfunctions")


def status(system_: System) -> dict[str, Any]:
    topology = system_.topology(allow_split=True)  # a shift in progress is a state to show, not an error
    gateway = system_.load_balancing()
    weights = {arn: w for arn, w in forward_weights(gateway.listener_by_arn(topology["production"]["arn"])).items()
               if w > 0}
    sides = []
    for role, side, port in (("live", topology["blue"], topology["production"]["port"]),
                             ("test", topology["green"], topology["test"]["port"])):
        health = gateway.target_health(side["targetGroupArn"])
        sides.append({"role": role, "targetGroup": side["targetGroupName"], "identifier": side["identifier"],
                      "productionShare": round(100 * weights.get(side["targetGroupArn"], 0) / sum(weights.values())),
                      "service": side["service"]["serviceName"], "images": side["service"]["images"],
                      "healthyTargets": sum(1 for h in health if h.state == "healthy"), "targets": len(health),
                      "url": system_.target.url(dict(system_.outputs), port)})
    return {"sides": sides, "releases": running_releases(system_), "tagProblems": topology["tagProblems"]}


def running_releases(system_: System) -> list[dict[str, Any]]:
    sfn = system_.sfn()
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=system_.outputs["StateMachineArn"],
                                                          statusFilter="RUNNING")
    return [{"execution": e["executionArn"], "name": e["name"], "step": current_step(history(sfn, e["executionArn"]))}
            for page in pages for e in page["executions"]]


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, in order, read page by page."""
    # Without each state's input and output (not needed here), in the largest pages the API gives.
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn,
                                                                includeExecutionData=False, maxResults=1000)
    return [event for page in pages for event in page["events"]]


def current_step(events: list[dict[str, Any]]) -> str | None:
    """The state the execution entered last."""
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e.get("stateEnteredEventDetails")]
    return str(entered[-1]) if entered else None


@dataclass
class ReleaseRun:
    execution_arn: str
    status: str
    error: str | None
    cause: str | None
    output: dict[str, Any] | None
    steps: list[str] = field(default_factory=list)
    seconds: float = 0.0
    waited_seconds: float = 0.0  # in Wait states and waiting for approval: time the engine did not spend


def history_reader(system_: System, pipeline: str | None) -> Reader:
    target = system_.target
    return Reader(system_.sfn(), target.client("dynamodb"), target.client("codepipeline") if pipeline else None,
                  system_.outputs["StateMachineArn"], system_.outputs["ApprovalsTableName"], pipeline,
                  target.client("elbv2"))


def verify_hooks_exist(system_: System, hooks: Mapping[str, HookConfig | None]) -> None:
    """The engine's own check of the request's hooks, before green is touched: a typo changes nothing."""
    try:
        verify_hooks(hooks, hook_prefix(system_.settings.name), Functions(system_.target.client("lambda")).arn)
    except ReleaseError as exc:
        raise DeployError(f"Cannot release: {exc}") from exc


def put_image_on_green(system_: System, console: Console, image: str) -> Topology:
    """Update the service stack so that green runs `image` and blue keeps what it runs (the pipeline's step)."""
    topology = system_.topology()
    try:
        images = compute_images(topology, image)
    except ReleaseError as exc:
        raise DeployError(f"{type(exc).__name__}: {exc} Nothing was changed.") from exc
    blue = str(topology["blue"]["identifier"])
    console.step(f"putting {image} on green ({topology['green']['targetGroupName']}); blue keeps {images[blue]}")
    result = system.set_images(system_.target, system_.settings, console, images)
    if all(r.outcome is Outcome.UNCHANGED for r in result.stacks.values()):
        console.step("green already runs that image")
    return topology


def start(system_: System, request: dict[str, Any], prefix: str) -> str:
    name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return str(system_.sfn().start_execution(stateMachineArn=system_.outputs["StateMachineArn"], name=name,
                                             input=json.dumps(request))["executionArn"])


@dataclass
class Backoff:
    """Poll quickly while the release moves, more slowly while it waits (a bake, an approval)."""

    # Within 0.1 s of a step while the release moves (a short burst of reads), within 1 s while a bake or an
    # approval waits (one read a second).
    first: float = 0.1
    factor: float = 1.5
    most: float = 1.0
    current: float = 0.1

    def moved(self) -> None:
        self.current = self.first

    def next(self) -> float:
        delay, self.current = self.current, min(self.most, self.current * self.factor)
        return delay


def follow(system_: System, console: Console, execution_arn: str,
           on_approval: Callable[[], None] | None = None, timeout: float = 7 * 24 * 3600,
           sleep: Callable[[float], None] = time.sleep, backoff: Backoff | None = None) -> ReleaseRun:
    """Print each state as the execution enters it; call `on_approval` once when it waits for approval."""
    sfn = system_.sfn()
    backoff = backoff or Backoff()
    seen = 0
    steps: list[str] = []
    asked = False
    deadline = time.monotonic() + timeout
    while True:
        events = history(sfn, execution_arn)
        for event in events[seen:]:
            if event.get("stateEnteredEventDetails"):
                steps.append(event["stateEnteredEventDetails"]["name"])
                console.step(f"-> {steps[-1]}")
        if len(events) > seen:
            backoff.moved()
        seen = len(events)
        if any(e["type"] in _ENDED for e in events[-1:]):
            return _ended(sfn, execution_arn, steps, events)
        if on_approval and not asked and steps and steps[-1] == APPROVAL:
            if pending_for(system_, execution_arn):
                asked = True
                on_approval()  # a decision from the command line sets the release moving again
            backoff.moved()  # or the approval request is being made: answer it as soon as it exists
        if time.monotonic() > deadline:
            raise DeployError(f"The release is still running after {timeout:.0f} s: {execution_arn}")
        sleep(backoff.next())


def _ended(sfn: Any, execution_arn: str, steps: list[str], events: list[dict[str, Any]]) -> ReleaseRun:
    described = sfn.describe_execution(executionArn=execution_arn)
    output = json.loads(described["output"]) if described.get("output") else None
    seconds = (described["stopDate"] - described["startDate"]).total_seconds()
    return ReleaseRun(execution_arn, described["status"], described.get("error"), described.get("cause"),
                      output, steps, seconds, waited_seconds(events))


def pending_for(system_: System, execution_arn: str | None) -> list[str]:
    """Keys of pending, unexpired approvals (of one execution, or of all)."""
    return system_.store().pending_keys(int(time.time()), execution_arn)


def decide(system_: System, approve: bool, reason: str, execution_arn: str | None = None) -> Delivery:
    keys = pending_for(system_, execution_arn)
    if not keys:
        raise DeployError("No release is waiting for approval." +
                          (" It may have timed out or been decided already." if execution_arn else ""))
    if len(keys) > 1:
        raise DeployError(f"{len(keys)} releases are waiting for approval; decide each from its link.")
    if not approve and not reason:
        raise DeployError("Say why you reject the release: --reason TEXT.")
    decision = Decision(approved=approve, by=f"{getpass.getuser()} (deploy.py)", reason=reason,
                        at=int(time.time()), source_ip="command line")
    delivery, _ = deliver_decision(system_.store(), Workflow(system_.sfn()), keys[0], decision)
    return delivery


def waited_seconds(events: list[dict[str, Any]]) -> float:
    """Time spent in Wait states and in the approval task: the user's settings and decisions, not the engine."""
    waited = 0.0
    entered: dict[str, Any] = {}
    for event in events:
        if event.get("stateEnteredEventDetails"):
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        details = event.get("stateExitedEventDetails")
        name = details["name"] if details else None
        if name in entered and (name == APPROVAL or event["type"] == "WaitStateExited"):
            waited += (event["timestamp"] - entered.pop(name)).total_seconds()
    for event in events:  # a failed approval task exits without a StateExited event
        if event["type"] in {"TaskTimedOut", "TaskFailed"} and APPROVAL in entered:
            waited += (event["timestamp"] - entered.pop(APPROVAL)).total_seconds()
    return waited


def abort(system_: System, reason: str) -> str:
    """Roll the running release back: reject it while it waits for approval, else ask its watch to roll back."""
    running = running_releases(system_)
    if not running:
        raise DeployError("No release is running. To put the previous version back: python3 deploy.py rollback")
    release = running[0]
    if release["step"] == APPROVAL:
        decide(system_, approve=False, reason=reason, execution_arn=release["execution"])
        return f"{release['name']} was waiting for approval: rejected ({reason}); production is unchanged"
    lb_arn = system_.topology(allow_split=True)["loadBalancerArn"]  # a canary splits traffic: that is when to abort
    store = LockStore(system_.outputs["LocksTableName"], system_.target.client("dynamodb"))
    if not store.request_abort(lb_arn, release["execution"], f"{getpass.getuser()} (deploy.py)", reason):
        raise DeployError(f"{release['name']} does not hold the release lock yet (it is at '{release['step']}'); "
                          "try again in a moment, or reject it when it asks for approval.")
    return (f"abort requested for {release['name']} (at '{release['step']}'): traffic goes back to blue at its next "
            "check while it shifts or bakes; earlier steps change nothing and end at the approval or swap")
