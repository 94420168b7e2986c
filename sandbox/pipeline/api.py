"""CodePipeline's API over the sandbox's runs: what moto lacks (GetPipelineState, ListActionExecutions), and what it
answers without running anything (StartPipelineExecution, ListPipelineExecutions).

The API's threads read what the runs' threads write: every answer is built from copies taken under the runner's lock.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.utils import iso_8601_datetime_with_milliseconds

from .model import ActionRecord
from .runner import PipelineRunner


def pipeline_state(runner: PipelineRunner, name: str) -> dict[str, Any]:
    """GetPipelineState: each stage's latest execution, and each action's latest execution."""
    pipeline, metadata = runner.backend().get_pipeline(name)  # PipelineNotFoundException, as AWS answers
    records = runner.records(name)
    stages = []
    for stage in pipeline["stages"]:
        actions = []
        for action in stage["actions"]:
            latest = next((r for r in reversed(records)
                           if r.stage == stage["name"] and r.action["name"] == action["name"]), None)
            actions.append({"actionName": action["name"], **({"latestExecution": _latest(latest)} if latest else {})})
        state: dict[str, Any] = {"stageName": stage["name"], "inboundTransitionState": {"enabled": True},
                                 "actionStates": actions}
        last = max((r for r in records if r.stage == stage["name"]), key=lambda r: r.started, default=None)
        if last is not None:
            ran = [r for r in records if r.pipeline_execution_id == last.pipeline_execution_id
                   and r.stage == stage["name"]]
            finished = all(r.status == "Succeeded" for r in ran) and len(ran) == len(stage["actions"])
            status = "Failed" if any(r.status == "Failed" for r in ran) else "Succeeded" if finished else "InProgress"
            state["latestExecution"] = {"pipelineExecutionId": last.pipeline_execution_id, "status": status}
        stages.append(state)
    return {"pipelineName": name, "pipelineVersion": pipeline["version"], "stageStates": stages,
            "created": metadata["created"], "updated": metadata["updated"]}


def _latest(record: ActionRecord) -> dict[str, Any]:
    return {"actionExecutionId": record.id, "status": record.status, "summary": record.summary,
            "lastStatusChange": iso_8601_datetime_with_milliseconds(record.updated),
            "externalExecutionId": record.external_id,
            **({"errorDetails": {"code": "JobFailed", "message": record.error}} if record.error else {})}


def action_executions(runner: PipelineRunner, name: str, execution_id: str | None) -> list[dict[str, Any]]:
    """ListActionExecutions, newest first, optionally of one pipeline execution."""
    runner.backend().get_pipeline(name)
    return [r.to_dict() for r in reversed(runner.records(name))
            if execution_id is None or r.pipeline_execution_id == execution_id]


def install_api(runner: PipelineRunner) -> None:
    from moto.codepipeline.responses import CodePipelineResponse

    def start_pipeline_execution(self: CodePipelineResponse) -> str:
        name = self._get_param("name")
        self.codepipeline_backend.get_pipeline(name)
        trigger = {"triggerType": "StartPipelineExecution",
                   "triggerDetail": f"arn:aws:sts::{runner.account}:assumed-role/sandbox-operator/deploy.py"}
        return json.dumps({"pipelineExecutionId": runner.start(name, trigger)})

    def list_pipeline_executions(self: CodePipelineResponse) -> str:
        name = self._get_param("pipelineName")
        self.codepipeline_backend.get_pipeline(name)
        summaries = runner.execution_summaries(name)[:self._get_param("maxResults") or 100]
        return json.dumps({"pipelineExecutionSummaries": summaries}, default=str)

    def get_pipeline_state(self: CodePipelineResponse) -> str:
        return json.dumps(pipeline_state(runner, self._get_param("name")), default=str)

    def list_action_executions(self: CodePipelineResponse) -> str:
        execution_id = (self._get_param("filter") or {}).get("pipelineExecutionId")
        found = action_executions(runner, self._get_param("pipelineName"), execution_id)
        return json.dumps({"actionExecutionDetails": found}, default=str)

    CodePipelineResponse.start_pipeline_execution = start_pipeline_execution  # type: ignore[method-assign]
    CodePipelineResponse.list_pipeline_executions = list_pipeline_executions  # type: ignore[method-assign]
    CodePipelineResponse.get_pipeline_state = get_pipeline_state  # type: ignore[attr-defined]
    CodePipelineResponse.list_action_executions = list_action_executions  # type: ignore[attr-defined]
