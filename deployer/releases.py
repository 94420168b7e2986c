"""Operating releases from the command line: status, release, approve/reject, rollback.

Everything goes through the engine's own code: discovery to find green, the state machine to
release, and the same decision delivery as the approval page.
"""

from __future__ import annotations

import getpass
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from release.approval import Decision
from release.config import parse_request
from release.deciding import Delivery, deliver_decision
from release.discovery import discover
from release.exceptions import ReleaseError
from release.gateways.approvals import ApprovalStore
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.gateways.locks import LockStore
from release.gateways.workflow import Workflow
from release.topology import Topology, forward_weights

from . import stacks, system
from .console import Console
from .errors import DeployError
from .settings import Settings
from .target import Target


@dataclass
class System:
    """The deployed system's coordinates, from the parent stack's outputs."""

    target: Target
    settings: Settings
    outputs: dict[str, str]

    @classmethod
    def load(cls, target: Target, settings: Settings) -> System:
        stack = stacks.describe(target.client("cloudformation"), settings.stack)
        out = stacks.outputs(stack)
        if "StateMachineArn" not in out:
            where = "the sandbox" if target.is_sandbox else "this account and region"
            raise DeployError(f"{settings.stack} is not deployed in {where}. Run `python deploy.py"
                              f"{'' if target.is_sandbox else ' --aws'}` first.")
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])}
        return cls(target, replace(
            settings, production_port=int(parameters.get("ProductionPort") or settings.production_port),
            test_port=int(parameters.get("TestPort") or settings.test_port),
            strategy=parameters.get("Strategy") or settings.strategy,
            bake_seconds=int(parameters.get("BakeSeconds") or settings.bake_seconds),
            alarm_names=tuple(a for a in (parameters.get("AlarmNames") or "").split(",") if a)), out)

    def base_request(self) -> dict[str, Any]:
        return {"loadBalancer": self.outputs["LoadBalancerName"], "cluster": self.outputs["ClusterName"],
                "productionPort": self.settings.production_port, "testPort": self.settings.test_port}

    def topology(self, allow_split: bool = False) -> Topology:
        try:
            return discover(parse_request(self.base_request()), LoadBalancing(self.target.client("elbv2")),
                            Containers(self.target.client("ecs")), allow_split)
        except ReleaseError as exc:
            raise DeployError(f"{type(exc).__name__}: {exc}") from exc

    def store(self) -> ApprovalStore:
        return ApprovalStore(self.outputs["ApprovalsTableName"], self.target.client("dynamodb"))


def status(system_: System) -> dict[str, Any]:
    topology = system_.topology(allow_split=True)  # a shift in progress is a state to show, not an error
    elbv2 = system_.target.client("elbv2")
    production = LoadBalancing(elbv2).listener_by_arn(topology["production"]["arn"])
    weights = {arn: w for arn, w in forward_weights(production).items() if w > 0}
    sides = []
    for role, side, port in (("live", topology["blue"], topology["production"]["port"]),
                             ("test", topology["green"], topology["test"]["port"])):
        health = elbv2.describe_target_health(TargetGroupArn=side["targetGroupArn"])["TargetHealthDescriptions"]
        healthy = sum(1 for h in health if h["TargetHealth"]["State"] == "healthy")
        share = round(100 * weights.get(side["targetGroupArn"], 0) / sum(weights.values()))
        sides.append({"role": role, "targetGroup": side["targetGroupName"], "identifier": side["identifier"],
                      "productionShare": share,
                      "service": side["service"]["serviceName"], "images": side["service"]["images"],
                      "healthyTargets": healthy, "targets": len(health),
                      "url": url_for(system_, port)})
    return {"sides": sides, "releases": running_releases(system_), "tagProblems": topology["tagProblems"]}


def url_for(system_: System, port: int) -> str:
    if system_.target.is_sandbox:
        return f"http://127.0.0.1:{port}/"
    return f"http://{system_.outputs['ProductionUrl'].split('//')[1].split(':')[0]}:{port}/"


def running_releases(system_: System) -> list[dict[str, Any]]:
    sfn = system_.target.client("stepfunctions")
    running = sfn.list_executions(stateMachineArn=system_.outputs["StateMachineArn"],
                                  statusFilter="RUNNING")["executions"]
    return [{"execution": e["executionArn"], "name": e["name"], "step": current_step(sfn, e["executionArn"])}
            for e in running]


def current_step(sfn: Any, execution_arn: str) -> str | None:
    """The state the execution entered last (read in order: not every implementation honours reverseOrder)."""
    step = None
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        for event in page["events"]:
            if event.get("stateEnteredEventDetails"):
                step = str(event["stateEnteredEventDetails"]["name"])
    return step


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


def put_image_on_green(system_: System, console: Console, image: str) -> Topology:
    """Update the service stack so that green runs `image` and blue keeps what it runs (the pipeline's step)."""
    topology = system_.topology()
    blue, green = topology["blue"], topology["green"]
    images = {str(green["identifier"]): image, str(blue["identifier"]): blue["service"]["images"][0]}
    console.step(f"putting {image} on green ({green['targetGroupName']}); blue keeps {images[str(blue['identifier'])]}")
    cfn = system_.target.client("cloudformation")
    result = system.deploy_service(system_.target, system_.settings, console, system_.outputs,
                                   system.service_template_url(system_.target, cfn, system_.settings), images)
    if result.outcome is stacks.Outcome.UNCHANGED:
        console.step("green already runs that image")
    return topology


def start(system_: System, request: dict[str, Any], prefix: str) -> str:
    sfn = system_.target.client("stepfunctions")
    name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return str(sfn.start_execution(stateMachineArn=system_.outputs["StateMachineArn"], name=name,
                                   input=json.dumps(request))["executionArn"])


def follow(system_: System, console: Console, execution_arn: str,
           on_approval: Callable[[], None] | None = None, timeout: float = 7 * 24 * 3600,
           sleep: Callable[[float], None] = time.sleep) -> ReleaseRun:
    """Print each state as the execution enters it; call `on_approval` once when it waits for approval."""
    sfn = system_.target.client("stepfunctions")
    seen: set[int] = set()
    steps: list[str] = []
    asked = False
    deadline = time.monotonic() + timeout
    while True:
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        for event in events:
            details = event.get("stateEnteredEventDetails")
            if details and event["id"] not in seen:
                seen.add(event["id"])
                steps.append(details["name"])
                console.step(f"-> {details['name']}")
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            output = json.loads(described["output"]) if described.get("output") else None
            seconds = (described["stopDate"] - described["startDate"]).total_seconds()
            return ReleaseRun(execution_arn, described["status"], described.get("error"), described.get("cause"),
                              output, steps, seconds, waited_seconds(events))
        if on_approval and not asked and steps and steps[-1] == "Ask for approval" and pending_for(
                system_, execution_arn):
            asked = True
            on_approval()
        if time.monotonic() > deadline:
            raise DeployError(f"The release is still running after {timeout:.0f} s: {execution_arn}")
        sleep(0.25)


def pending_for(system_: System, execution_arn: str | None) -> list[str]:
    """Keys of pending, unexpired approvals (of one execution, or of all)."""
    table = system_.outputs["ApprovalsTableName"]
    ddb = system_.target.client("dynamodb")
    now = int(time.time())
    keys = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            if item["status"]["S"] != "PENDING" or int(item["expiresAt"]["N"]) <= now:
                continue
            if execution_arn is None or item["executionArn"]["S"] == execution_arn:
                keys.append(item["approvalKey"]["S"])
    return keys


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
    store = system_.store()
    return deliver_decision(store, Workflow(system_.target.client("stepfunctions")), store.get(keys[0]), decision)


def waited_seconds(events: list[dict[str, Any]]) -> float:
    """Time spent in Wait states and in the approval task: the user's settings and decisions, not the engine."""
    waited = 0.0
    entered: dict[str, Any] = {}
    for event in events:
        if event.get("stateEnteredEventDetails"):
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        details = event.get("stateExitedEventDetails")
        name = details["name"] if details else None
        if name in entered and (name == "Ask for approval" or event["type"] == "WaitStateExited"):
            waited += (event["timestamp"] - entered.pop(name)).total_seconds()
    for event in events:  # a failed approval task exits without a StateExited event
        if event["type"] in {"TaskTimedOut", "TaskFailed"} and "Ask for approval" in entered:
            waited += (event["timestamp"] - entered.pop("Ask for approval")).total_seconds()
    return waited


def abort(system_: System, reason: str) -> str:
    """Roll the running release back: reject it while it waits for approval, else ask its watch to roll back."""
    running = running_releases(system_)
    if not running:
        raise DeployError("No release is running. To put the previous version back: python deploy.py rollback")
    release = running[0]
    if release["step"] == "Ask for approval":
        decide(system_, approve=False, reason=reason, execution_arn=release["execution"])
        return f"{release['name']} was waiting for approval: rejected ({reason}); production is unchanged"
    lb_arn = system_.topology()["loadBalancerArn"]
    store = LockStore(system_.outputs["LocksTableName"], system_.target.client("dynamodb"))
    if not store.request_abort(lb_arn, release["execution"], f"{getpass.getuser()} (deploy.py)", reason):
        raise DeployError(f"{release['name']} does not hold the release lock yet (it is at '{release['step']}'); "
                          "try again in a moment, or reject it when it asks for approval.")
    return (f"abort requested for {release['name']} (at '{release['step']}'): traffic goes back to blue at its next "
            "check while it shifts or bakes; earlier steps change nothing and end at the approval or swap")
