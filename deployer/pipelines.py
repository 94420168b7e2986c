"""The release pipeline from the command line: its latest executions, and "Release change".

Read through CodePipeline's own API (ListPipelineExecutions, ListActionExecutions), on AWS and in the sandbox.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .aws_errors import explain
from .errors import DeployError
from .releases import System

NO_PIPELINE = "none (no ConnectionArn)"  # the PipelineName output of a system without one (cfn/main.yaml)


def name(system_: System) -> str | None:
    value = system_.outputs.get("PipelineName", "")
    return None if value in ("", NO_PIPELINE) else value


def status(system_: System, releases: list[dict[str, Any]], latest: int = 5) -> dict[str, Any] | None:
    """The pipeline and its latest executions (newest first): commit, stage reached, status, and the step of the
    release it runs, found among `releases` (the running releases `releases.status` has already read)."""
    pipeline = name(system_)
    if pipeline is None:
        return None
    found: dict[str, Any] = {"name": pipeline, "repository": system_.target.repository(system_.settings.repository),
                             "branch": system_.settings.branch, "executions": []}
    client = system_.target.client("codepipeline")
    try:
        summaries = client.list_pipeline_executions(pipelineName=pipeline, maxResults=latest)
        # one call for the actions of every execution shown: they are the newest, and come first
        actions = client.list_action_executions(pipelineName=pipeline, maxResults=100)["actionExecutionDetails"]
    except ClientError as exc:  # the rest of `status` is still worth showing
        return {**found, "error": f"cannot read the pipeline's executions: {explain(exc)}"}
    running = {r["execution"]: r for r in releases}
    for summary in summaries["pipelineExecutionSummaries"]:
        own = [a for a in actions if a["pipelineExecutionId"] == summary["pipelineExecutionId"]]
        latest_action = max(own, key=lambda a: a["startTime"], default=None)
        revision = (summary.get("sourceRevisions") or [{}])[0]
        release = running.get(_result(latest_action).get("externalExecutionId") or "")
        failed = max((a for a in own if a["status"] == "Failed"), key=lambda a: a["startTime"], default=None)
        found["executions"].append({
            "id": summary["pipelineExecutionId"], "status": summary["status"],
            "commit": revision.get("revisionId", ""), "message": _commit_message(revision.get("revisionSummary")),
            "stage": latest_action["stageName"] if latest_action else None,
            "action": latest_action["actionName"] if latest_action else None,
            "trigger": summary.get("trigger", {}).get("triggerType", ""),
            "release": {"execution": release["execution"], "step": release["step"]} if release else None,
            "error": _result(failed).get("errorDetails", {}).get("message") or summary.get("statusSummary"),
        })
    return found


def _result(action: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = (action or {}).get("output", {}).get("executionResult", {})
    return result


def retry(system_: System) -> str:
    """Run the pipeline again on the branch's latest commit ("Release change"); the new execution's id."""
    pipeline = name(system_)
    if pipeline is None:
        raise DeployError(f"{system_.settings.stack} has no pipeline: it was deployed without one. Add it with "
                          "`python3 deploy.py --aws --connection-arn ARN --repository OWNER/NAME`. "
                          "Nothing was changed.")
    return str(system_.target.client("codepipeline").start_pipeline_execution(name=pipeline)["pipelineExecutionId"])


def lines(state: dict[str, Any] | None) -> list[str]:
    if state is None:
        return ["pipeline: none"]
    out = [f"pipeline {state['name']}: {state['repository']} ({state['branch']})"]
    if state.get("error"):
        out.append(f"  {state['error']}")
    for e in state["executions"]:
        where = f"{e['stage']}/{e['action']}" if e["stage"] else "not started"
        line = f"  {e['commit'][:12] or '-':<12} {e['status']:<10} {where:<36} {e['message'][:40]}"
        if e["release"]:
            line += f"  [release at '{e['release']['step']}']"
        if e["status"] == "Failed" and e["error"]:
            line += f"\n      {e['error'][:300]}"
        out.append(line)
    return out if state["executions"] else [*out, "  no execution yet"]


def _commit_message(summary: str | None) -> str:
    """CodeConnections puts the commit message in a JSON summary; other sources give plain text."""
    if not summary:
        return ""
    try:
        data = json.loads(summary)
    except ValueError:
        return summary
    return str(data.get("CommitMessage", summary)) if isinstance(data, dict) else summary
