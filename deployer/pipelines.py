"""The release pipeline from the command line: its latest executions, and "Release change".

Read through CodePipeline's own API (ListPipelineExecutions, ListActionExecutions), on AWS and in the sandbox.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .errors import DeployError
from .releases import System, running_releases

NO_PIPELINE = "none (no ConnectionArn)"  # the PipelineName output of a system without one (cfn/main.yaml)


def name(system_: System) -> str | None:
    value = system_.outputs.get("PipelineName", "")
    return None if value in ("", NO_PIPELINE) else value


def status(system_: System, latest: int = 5) -> dict[str, Any] | None:
    """The pipeline and its latest executions (newest first): commit, stage reached, status, the release's state."""
    pipeline = name(system_)
    if pipeline is None:
        return None
    client = system_.target.client("codepipeline")
    try:
        summaries = client.list_pipeline_executions(pipelineName=pipeline, maxResults=latest)
    except ClientError as exc:  # the rest of `status` is still worth showing
        return {"name": pipeline, "repository": system_.target.repository(system_.settings.repository),
                "branch": system_.settings.branch, "executions": [],
                "error": f"cannot read the pipeline's executions: {exc}"}
    releases = {r["execution"]: r for r in running_releases(system_)}
    executions = []
    for summary in summaries["pipelineExecutionSummaries"]:
        actions = client.list_action_executions(
            pipelineName=pipeline, filter={"pipelineExecutionId": summary["pipelineExecutionId"]},
        )["actionExecutionDetails"]
        latest_action = max(actions, key=lambda a: a["startTime"], default=None)
        revision = (summary.get("sourceRevisions") or [{}])[0]
        external = (latest_action or {}).get("output", {}).get("executionResult", {}).get("externalExecutionId")
        release = releases.get(external or "")
        failed = max((a for a in actions if a["status"] == "Failed"), key=lambda a: a["startTime"], default=None)
        executions.append({
            "id": summary["pipelineExecutionId"], "status": summary["status"],
            "commit": revision.get("revisionId", ""), "message": _commit_message(revision.get("revisionSummary")),
            "stage": latest_action["stageName"] if latest_action else None,
            "action": latest_action["actionName"] if latest_action else None,
            "trigger": summary.get("trigger", {}).get("triggerType", ""),
            "release": {"execution": release["execution"], "step": release["step"]} if release else None,
            "error": (failed or {}).get("output", {}).get("executionResult", {}).get("errorDetails", {}).get("message")
            or summary.get("statusSummary"),
        })
    return {"name": pipeline, "repository": system_.target.repository(system_.settings.repository),
            "branch": system_.settings.branch, "executions": executions}


def retry(system_: System) -> str:
    """Run the pipeline again on the branch's latest commit ("Release change"); the new execution's id."""
    pipeline = name(system_)
    if pipeline is None:
        raise DeployError(f"{system_.settings.stack} has no pipeline (it was deployed without --connection-arn). "
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
