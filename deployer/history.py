"""Release history: what was released when, by whom, and how it went.

Read from Step Functions (ListExecutions, then per release DescribeExecution and GetExecutionHistory), the
approvals table (one scan of the decisions, never the task tokens) and the pipeline's action executions (which
pipeline execution started which release). `summarize` is pure: the same records on AWS, in the sandbox's
`deploy.py history` and on its web page.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

STAGES = ("discover", "health", "hooks", "approval", "traffic", "bake", "rollback", "report")
_PIPELINE_READ = 100  # action executions per page


def stage_of(state: str, previous: str) -> str:
    """The stage a state belongs to; a state of no stage of its own (a choice, a note) counts in the previous."""
    name = state.lower()
    if name.startswith("is there a"):  # a choice about a hook or the bake, not time spent in it
        return previous
    for stage, words in (("hooks", ("hook",)), ("approval", ("approval",)),
                         ("health", ("health", "healthy", "checking again")),
                         ("bake", ("bake", "watch production")), ("rollback", ("roll traffic back", "rollback")),
                         ("report", ("notify", "notification")), ("discover", ("discover", "lock")),
                         ("traffic", ("shift", "swap", "watch green", "watching", "traffic", "strategy",
                                      "green still fine"))):
        if any(word in name for word in words):
            return stage
    return previous


def _seconds(start: dt.datetime, end: dt.datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def stage_seconds(events: Iterable[Mapping[str, Any]], ended: dt.datetime) -> dict[str, float]:
    """Seconds spent in each stage: from each state's entry to the next state's (or the end)."""
    entered = [(e["timestamp"], e["stateEnteredEventDetails"]["name"]) for e in events
               if e.get("stateEnteredEventDetails")]
    spent: dict[str, float] = {}
    stage = "discover"
    for (at, name), following in zip(entered, [*entered[1:], (ended, "")], strict=True):
        stage = stage_of(name, stage)
        spent[stage] = round(spent.get(stage, 0.0) + _seconds(at, following[0]), 1)
    return {s: spent[s] for s in STAGES if s in spent}


def _last_output(events: Iterable[Mapping[str, Any]], state: str) -> dict[str, Any] | None:
    found = None
    for event in events:
        details = event.get("stateExitedEventDetails")
        if details and details.get("name") == state and details.get("output"):
            found = details["output"]
    try:
        return json.loads(found) if found else None
    except ValueError:
        return None


def _images(side: Mapping[str, Any] | None) -> list[str]:
    return list(((side or {}).get("service") or {}).get("images") or [])


def summarize(execution: Mapping[str, Any], events: Sequence[Mapping[str, Any]], decision: Mapping[str, Any] | None,
              pipeline_execution: str | None, now: dt.datetime,
              traffic: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One release's record from its execution (DescribeExecution), history events, approval and pipeline run;
    a running release's with where production traffic goes now."""
    request = json.loads(execution.get("input") or "{}")
    final = _last_output(events, "Notify the operators") or {}
    discovered = _last_output(events, "Discover the topology") or {}
    topology = final.get("topology") or discovered.get("topology") or {}
    config = final.get("config") or discovered.get("config") or {}
    outcome = final.get("outcome") or {}
    status = execution["status"]
    if status == "RUNNING":
        result, reason = "RUNNING", f"at '{_current(events)}'"
    elif outcome:
        result, reason = outcome.get("status") or status, outcome.get("message") or ""
    else:  # stopped, timed out, or failed before it could report
        result = status
        reason = execution.get("cause") or execution.get("error") or f"the execution {status.lower()}"
    ended = execution.get("stopDate") or now
    to = _images(topology.get("green")) or ([request["expectedImage"]] if request.get("expectedImage") else [])
    return {
        "execution": execution["executionArn"],
        "name": execution.get("name") or execution["executionArn"].rsplit(":", 1)[-1],
        "startedAt": execution["startDate"].isoformat(),
        "endedAt": execution["stopDate"].isoformat() if execution.get("stopDate") else None,
        "seconds": round(_seconds(execution["startDate"], ended), 1),
        "action": config.get("action") or request.get("action") or "release",
        "imagesFrom": _images(topology.get("blue")),
        "imagesTo": to,
        "strategy": (config.get("traffic") or {}).get("strategy")
        or (request.get("traffic") or {}).get("strategy") or "all-at-once",
        "outcome": result,
        "reason": reason,
        "decision": dict(decision) if decision else None,
        "stages": stage_seconds(events, ended),
        "pipelineExecution": pipeline_execution,
        "description": request.get("description") or "",
        "traffic": traffic,
    }


def discovered_topology(events: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    topology = (_last_output(events, "Discover the topology") or {}).get("topology")
    return topology if isinstance(topology, dict) else None


def split(listener: Mapping[str, Any], topology: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The production listener's share per side (DescribeListeners' listener), blue first."""
    weights: dict[str, int] = {}
    for action in listener.get("DefaultActions") or []:
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            weights.update({g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups})
        elif action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = 1
    total = sum(weights.values()) or 1
    return [{"side": side, "targetGroup": topology[side]["targetGroupName"], "images": _images(topology[side]),
             "percent": round(100 * weights.get(topology[side]["targetGroupArn"], 0) / total)}
            for side in ("blue", "green")]


def _current(events: Sequence[Mapping[str, Any]]) -> str:
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e.get("stateEnteredEventDetails")]
    return str(entered[-1]) if entered else "start"


def decisions(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Execution ARN -> who decided, when, and what: from the approvals table's items (DynamoDB JSON)."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        if "decision" not in item:
            continue
        decided_at = int(item["decidedAt"]["N"])
        approver, typed = item.get("approver", {}).get("S", ""), item.get("decidedBy", {}).get("S", "")
        record = {"decision": "approved" if item["decision"]["S"] == "approve" else "rejected",
                  "by": approver or typed, "note": typed if approver else "",
                  "at": dt.datetime.fromtimestamp(decided_at, dt.UTC).isoformat(),
                  "reason": item.get("reason", {}).get("S", ""),
                  "delivered": item.get("status", {}).get("S") == "DECIDED"}
        found[item["executionArn"]["S"]] = record
    return found


class Reader:
    """The AWS reads behind `deploy.py history`, with clients of the account (or the sandbox)."""

    def __init__(self, sfn: Any, dynamodb: Any, codepipeline: Any | None, state_machine_arn: str,
                 approvals_table: str, pipeline: str | None, elbv2: Any | None = None) -> None:
        self._sfn, self._ddb, self._pipelines, self._elbv2 = sfn, dynamodb, codepipeline, elbv2
        self._machine, self._table, self._pipeline = state_machine_arn, approvals_table, pipeline

    def releases(self, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` releases, newest first."""
        executions: list[dict[str, Any]] = []
        for page in self._sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self._machine, PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 100)}):
            executions += page["executions"]
        decided = self._decisions()
        by_action = self._pipeline_executions()
        now = dt.datetime.now(dt.UTC)
        records = []
        for listed in executions[:limit]:
            arn = listed["executionArn"]
            described = self._sfn.describe_execution(executionArn=arn)
            events = self._events(arn)
            traffic = self._traffic(events) if described["status"] == "RUNNING" else None
            records.append(summarize(described, events, decided.get(arn), started_by(by_action, listed), now,
                                     traffic))
        return records

    def _traffic(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
        topology = discovered_topology(events)
        if self._elbv2 is None or topology is None:
            return None
        listeners = self._elbv2.describe_listeners(ListenerArns=[topology["production"]["arn"]])["Listeners"]
        return split(listeners[0], topology) if listeners else None

    def _events(self, arn: str) -> list[dict[str, Any]]:
        pages = self._sfn.get_paginator("get_execution_history").paginate(executionArn=arn, maxResults=1000,
                                                                           includeExecutionData=True)
        return [event for page in pages for event in page["events"]]

    def _decisions(self) -> dict[str, dict[str, Any]]:
        # Only the decision's attributes: the task tokens stay in the table.
        pages = self._ddb.get_paginator("scan").paginate(
            TableName=self._table, ProjectionExpression="executionArn, #s, decision, decidedBy, decidedAt, reason, "
                                                        "approver", ExpressionAttributeNames={"#s": "status"})
        return decisions(item for page in pages for item in page["Items"])

    def _pipeline_executions(self) -> list[dict[str, Any]]:
        """The pipeline's Step Functions actions: their action and pipeline execution ids, and external id."""
        if self._pipelines is None or self._pipeline is None:
            return []
        found: list[dict[str, Any]] = []
        try:
            pages = self._pipelines.get_paginator("list_action_executions").paginate(
                pipelineName=self._pipeline, PaginationConfig={"PageSize": _PIPELINE_READ})
            for page in pages:
                found += [action for action in page["actionExecutionDetails"]
                          if ((action.get("input") or {}).get("actionTypeId") or {}).get("provider") == "StepFunctions"]
        except ClientError:  # the releases are worth showing without their pipeline runs
            return found
        return found


def started_by(actions: Iterable[Mapping[str, Any]], execution: Mapping[str, Any]) -> str | None:
    """The pipeline execution whose Step Functions action started `execution` (a ListExecutions item).

    The action names the execution <ExecutionNamePrefix>-<action execution id>; its external id is the execution.
    """
    for action in actions:
        external = ((action.get("output") or {}).get("executionResult") or {}).get("externalExecutionId")
        if external == execution["executionArn"] or str(execution.get("name", "")).endswith(
                f"-{action['actionExecutionId']}"):
            return str(action["pipelineExecutionId"])
    return None


def lines(records: list[dict[str, Any]]) -> list[str]:
    """The history as a table, newest first, each release's reason on the line below."""
    if not records:
        return ["no release yet"]
    rows = [("STARTED (UTC)", "TOOK", "FROM", "TO", "STRATEGY", "OUTCOME", "DECIDED BY", "PIPELINE RUN")]
    for r in records:
        decision = r["decision"]
        decided = f"{decision['decision']} by {decision['by']}" if decision else "-"
        rows.append((r["startedAt"][:19].replace("T", " "), f"{r['seconds']:.0f}s", ", ".join(r["imagesFrom"]) or "?",
                     ", ".join(r["imagesTo"]) or "?", r["strategy"], r["outcome"], decided,
                     (r["pipelineExecution"] or "-")[:8]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index:
            record = records[index - 1]
            stages = ", ".join(f"{stage} {seconds:.0f}s" for stage, seconds in record["stages"].items())
            out.append(f"    {record['reason']}")
            out.append(f"    stages: {stages}")
    return out
