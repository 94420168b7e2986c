"""What the sandbox's CodePipeline keeps of a run: executions, action executions, and the QUEUED-mode queue."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.codepipeline.models import PipelineExecution
from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow

ACCOUNT, REGION = "123456789012", "us-east-1"


class ActionFailed(Exception):
    """The action failed; the message is what CodePipeline shows as the action's error."""


class LogsDenied(Exception):
    """The build's service role may not write its log: CodeBuild fails such a build before it starts."""


class Execution(PipelineExecution):  # type: ignore[misc]
    """moto's execution record, with what the sandbox's runs add: the trigger, the source revision, the status."""

    def __init__(self, pipeline_name: str, version: int, trigger: dict[str, str], sequence: int) -> None:
        super().__init__(pipeline_name, version, None)
        self.status = "InProgress"
        self.trigger = trigger
        self.sequence = sequence
        self.source_revisions: list[dict[str, str]] = []
        self.artifacts: dict[str, dict[str, str]] = {}  # artifact name -> {"bucket", "key"}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_dict()
        data.update(trigger=self.trigger, executionMode="QUEUED", executionType="STANDARD",
                    artifactRevisions=[{"name": r["artifactName"], "revisionId": r["revisionId"],
                                        "revisionSummary": r["revisionSummary"]} for r in self.source_revisions])
        return data

    def to_summary_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_summary_dict()
        data.update(trigger=self.trigger, executionMode="QUEUED", sourceRevisions=[
            {k: v for k, v in r.items() if k != "artifactName"} for r in self.source_revisions])
        return data


@dataclass
class ActionRecord:
    """One action execution, as ListActionExecutions and GetPipelineState report it."""

    pipeline_execution_id: str
    stage: str
    action: dict[str, Any]
    version: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "InProgress"
    started: Any = field(default_factory=utcnow)
    updated: Any = field(default_factory=utcnow)
    summary: str = ""
    external_id: str = ""
    error: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        output: dict[str, Any] = {"outputArtifacts": self.outputs,
                                  "executionResult": {"externalExecutionId": self.external_id,
                                                      "externalExecutionSummary": self.summary}}
        if self.error:
            output["executionResult"]["errorDetails"] = {"code": "JobFailed", "message": self.error}
        return {"pipelineExecutionId": self.pipeline_execution_id, "actionExecutionId": self.id,
                "pipelineVersion": self.version, "stageName": self.stage, "actionName": self.action["name"],
                "startTime": iso_8601_datetime_with_milliseconds(self.started),
                "lastUpdateTime": iso_8601_datetime_with_milliseconds(self.updated), "status": self.status,
                "input": {"actionTypeId": self.action["actionTypeId"],
                          "configuration": self.action.get("configuration", {}), "region": REGION},
                "output": output}


class Queue:
    """QUEUED mode: a stage holds one execution at a time, and executions enter each stage in order."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.busy: dict[int, int] = {}  # stage index -> the sequence of the execution in it
        self.waiting: dict[int, list[int]] = {}  # stage index -> sequences in line for it

    def enqueue(self, sequence: int) -> None:
        """An execution has started: it is in line for the first stage from now, whichever thread runs first."""
        with self.changed:
            self.waiting.setdefault(0, []).append(sequence)

    @contextmanager
    def stage(self, index: int, sequence: int, then: int | None = None) -> Iterator[None]:
        """Hold stage `index` once the earlier executions have left it; on leaving, join the line for `then`
        at once, so no later execution overtakes this one between the two stages."""
        with self.changed:
            waiting = self.waiting.setdefault(index, [])
            if sequence not in waiting:
                waiting.append(sequence)
            self.changed.wait_for(lambda: index not in self.busy and min(waiting) == sequence)
            waiting.remove(sequence)
            self.busy[index] = sequence
        try:
            yield
        finally:
            with self.changed:
                del self.busy[index]
                if then is not None:
                    self.waiting.setdefault(then, []).append(sequence)
                self.changed.notify_all()

    def abandon(self, sequence: int) -> None:
        """The execution has ended: it holds no stage and waits in no line (a failed one included)."""
        with self.changed:
            for waiting in self.waiting.values():
                if sequence in waiting:
                    waiting.remove(sequence)
            for index in [i for i, held in self.busy.items() if held == sequence]:
                del self.busy[index]
            self.changed.notify_all()
