"""CodePipeline, emulated: the deployed pipelines run, stage by stage, as CodePipeline runs them.

The definition is read from the sandbox's CodePipeline (what CloudFormation deployed), never a copy. A push to
the source action's branch starts an execution; so does StartPipelineExecution ("Release change"). Executions
run in QUEUED mode: in the order they started, and a stage holds one execution at a time (a later execution
waits at a stage's entrance until the earlier one has left it). Each action acts as the pipeline's role, a
build as its project's service role; every call is authorized against them (`sandbox.iam`).

Providers run: CodeStarSourceConnection (a local git repository, `source`), CodeBuild (`codebuild`),
CloudFormation (CREATE_UPDATE), StepFunctions (Invoke). Another provider fails its action, saying so.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.codebuild.models import codebuild_backends
from moto.codepipeline.models import PipelineExecution, codepipeline_backends
from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow

from sandbox.iam import enforce

from . import codebuild, source

LOG = logging.getLogger("sandbox.pipeline")
ACCOUNT, REGION = "123456789012", "us-east-1"
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4})


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
        self.source_artifact = ""
        self.artifacts: dict[str, dict[str, str]] = {}  # artifact name -> {"bucket", "key"}
        self.stage = ""

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
        self.busy: set[int] = set()  # stage indexes an execution is in
        self.waiting: dict[int, list[int]] = {}  # stage index -> sequences waiting for it

    def enqueue(self, sequence: int) -> None:
        """An execution has started: it is in line for the first stage from now, whichever thread runs first."""
        with self.changed:
            self.waiting.setdefault(0, []).append(sequence)

    @contextmanager
    def stage(self, index: int, sequence: int) -> Iterator[None]:
        with self.changed:
            waiting = self.waiting.setdefault(index, [])
            if sequence not in waiting:
                waiting.append(sequence)
            self.changed.wait_for(lambda: index not in self.busy and min(waiting) == sequence)
            waiting.remove(sequence)
            self.busy.add(index)
        try:
            yield
        finally:
            with self.changed:
                self.busy.discard(index)
                self.changed.notify_all()


class PipelineRunner:
    def __init__(self, state: Path, endpoint: str) -> None:
        self.folder, self.endpoint = state, endpoint
        self.registry = state / "registry"
        self.lock = threading.Lock()
        self.heads: dict[str, str | None] = {}  # pipeline -> the branch head last seen
        self.queues: dict[str, Queue] = {}
        self.sequence = 0
        self.actions: dict[str, list[ActionRecord]] = {}  # pipeline -> its action executions, oldest first
        self._session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox",  # noqa: S106
                                      region_name=REGION)

    def backend(self) -> Any:
        return codepipeline_backends[ACCOUNT][REGION]

    # triggers

    def watch(self) -> None:
        """A push to a pipeline's source branch starts an execution (CodeConnections' webhook)."""
        for name, pipeline in list(self.backend().pipelines.items()):
            found = _source_action(pipeline.pipeline)
            if found is None:
                continue
            configuration = found["configuration"]
            if configuration.get("ConnectionArn") != source.CONNECTION_ARN:
                continue
            path = source.repository_path(self.folder, configuration["FullRepositoryId"])
            branch = configuration.get("BranchName", "main")
            if source.ensure_repository(path, branch):
                LOG.info("created the repository %s for the pipeline %s", path, name)
            revision = source.head(path, branch)
            commit = revision.commit if revision else None
            with self.lock:
                if name not in self.heads:  # the pipeline is new: its branch's head is where it starts from
                    self.heads[name] = commit
                    continue
                seen = self.heads[name]
                if commit is None or commit == seen:
                    continue
                self.heads[name] = commit
            # every commit is a push to this repository: each starts its own execution, oldest first
            for pushed in source.commits_between(path, seen, commit):
                self.start(name, {"triggerType": "WebhookV2", "triggerDetail": self._webhook(name)}, pushed)

    @staticmethod
    def _webhook(name: str) -> str:
        return f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:webhook:{name}-connection-push"

    def start(self, name: str, trigger: dict[str, str], commit: str | None = None) -> str:
        pipeline = self.backend().pipelines[name]
        with self.lock:
            self.sequence += 1
            execution = Execution(name, pipeline.pipeline["version"], trigger, self.sequence)
            pipeline.executions[execution.pipeline_execution_id] = execution
            queue = self.queues.setdefault(name, Queue())
            queue.enqueue(self.sequence)
        threading.Thread(target=self._run, args=(pipeline.pipeline, execution, queue, commit),
                         name=f"pipeline-{name}-{self.sequence}", daemon=True).start()
        LOG.info("pipeline %s: execution %s started (%s)", name, execution.pipeline_execution_id,
                 trigger["triggerType"])
        return str(execution.pipeline_execution_id)

    # running

    def _run(self, definition: dict[str, Any], execution: Execution, queue: Queue, commit: str | None) -> None:
        try:
            for index, stage in enumerate(definition["stages"]):
                with queue.stage(index, execution.sequence):
                    execution.stage = stage["name"]
                    self._stage(definition, stage, execution, commit)
            execution.status = "Succeeded"
        except ActionFailed as exc:
            execution.status, execution.status_summary = "Failed", str(exc)
        except Exception as exc:
            LOG.exception("pipeline %s: execution %s crashed", definition["name"], execution.pipeline_execution_id)
            execution.status, execution.status_summary = "Failed", f"{type(exc).__name__}: {exc}"
        execution.last_update_time = utcnow()
        LOG.info("pipeline %s: execution %s %s %s", definition["name"], execution.pipeline_execution_id,
                 execution.status, execution.status_summary or "")

    def _stage(self, definition: dict[str, Any], stage: dict[str, Any], execution: Execution,
               commit: str | None) -> None:
        for action in sorted(stage["actions"], key=lambda a: int(a.get("runOrder", 1))):
            record = ActionRecord(execution.pipeline_execution_id, stage["name"], action, definition["version"])
            with self.lock:
                self.actions.setdefault(definition["name"], []).append(record)
            try:
                self._action(definition, action, execution, record, commit)
                record.status = "Succeeded"
            except ActionFailed as exc:
                record.status, record.error = "Failed", str(exc)
                raise ActionFailed(f"{stage['name']}/{action['name']}: {exc}") from exc
            except ClientError as exc:
                error = exc.response["Error"]
                record.status, record.error = "Failed", f"{error.get('Code')}: {error.get('Message')}"
                raise ActionFailed(f"{stage['name']}/{action['name']}: {record.error}") from exc
            finally:
                record.updated = utcnow()
                execution.last_update_time = record.updated

    def _action(self, definition: dict[str, Any], action: dict[str, Any], execution: Execution,
                record: ActionRecord, commit: str | None) -> None:
        provider = action["actionTypeId"]["provider"]
        run: dict[str, Callable[..., None]] = {
            "CodeStarSourceConnection": self._source, "CodeBuild": self._build,
            "CloudFormation": self._cloudformation, "StepFunctions": self._step_functions}
        if provider not in run:
            raise ActionFailed(f"the sandbox's CodePipeline does not run {provider} actions")
        pipeline_role = enforce.principal_of(action.get("roleArn") or definition["roleArn"], "codepipeline")
        run[provider](definition, action, execution, record, pipeline_role, commit)

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint, config=_CONFIG)  # type: ignore[call-overload]

    # artifacts

    def _put_artifact(self, definition: dict[str, Any], execution: Execution, record: ActionRecord, name: str,
                      body: bytes) -> None:
        store = definition["artifactStore"]
        key = f"{definition['name'][:20]}/{name[:10]}/{secrets.token_hex(4)}"
        extra = {}
        if store.get("encryptionKey"):
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": store["encryptionKey"]["id"]}
        self.client("s3").put_object(Bucket=store["location"], Key=key, Body=body, **extra)
        execution.artifacts[name] = {"bucket": store["location"], "key": key}
        record.outputs.append({"name": name, "s3location": {"bucket": store["location"], "key": key}})

    def _get_artifact(self, execution: Execution, name: str) -> bytes:
        where = execution.artifacts[name]
        return bytes(self.client("s3").get_object(Bucket=where["bucket"], Key=where["key"])["Body"].read())

    def _input(self, action: dict[str, Any]) -> str:
        inputs = action.get("inputArtifacts") or []
        if not inputs:
            raise ActionFailed("the action has no input artifact")
        return str(inputs[0]["name"])

    # providers

    def _source(self, definition: dict[str, Any], action: dict[str, Any], execution: Execution,
                record: ActionRecord, role: enforce.Principal, commit: str | None) -> None:
        configuration = action["configuration"]
        connection = configuration["ConnectionArn"]
        if refused := enforce.authorize(role, REGION, f"{connection.split(':')[2]}:UseConnection", connection):
            raise ActionFailed(f"Insufficient permissions: unable to use the connection {connection}: {refused[2]}")
        if connection != source.CONNECTION_ARN:
            raise ActionFailed(f"The connection {connection} was not found (the sandbox's connection is "
                               f"{source.CONNECTION_ARN})")
        path = source.repository_path(self.folder, configuration["FullRepositoryId"])
        branch = configuration.get("BranchName", "main")
        revision = source.head(path, branch)
        if revision is None:
            raise ActionFailed(f"The branch {branch} of {configuration['FullRepositoryId']} was not found")
        if commit and commit != revision.commit:  # a push trigger releases the commit pushed, not a later one
            message = source.message(path, commit)
            revision = source.Revision(commit, message)
        summary = json.dumps({"ProviderType": "Sandbox", "CommitMessage": revision.message})
        execution.source_revisions = [{"actionName": action["name"], "revisionId": revision.commit,
                                       "revisionSummary": summary, "revisionUrl": f"file://{path}",
                                       "artifactName": ((action.get("outputArtifacts") or [{}])[0]).get("name", "")}]
        execution.source_artifact = ((action.get("outputArtifacts") or [{}])[0]).get("name", "")
        record.external_id, record.summary = revision.commit, revision.message
        body = source.archive(path, revision.commit)
        with enforce.acting_as(role):
            for output in action.get("outputArtifacts") or []:
                self._put_artifact(definition, execution, record, output["name"], body)

    def _build(self, definition: dict[str, Any], action: dict[str, Any], execution: Execution,
               record: ActionRecord, role: enforce.Principal, commit: str | None) -> None:
        name = action["configuration"]["ProjectName"]
        revision = execution.source_revisions[0]["revisionId"] if execution.source_revisions else ""
        with enforce.acting_as(role):
            build_id = self.client("codebuild").start_build(projectName=name, sourceVersion=revision)["build"]["id"]
        record.external_id = build_id
        project = codebuild_backends[ACCOUNT][REGION].batch_get_projects([name])[0]
        where = execution.artifacts[self._input(action)]
        build = codebuild.Build(build_id, project, f"arn:aws:s3:::{where['bucket']}/{where['key']}", revision,
                                f"codepipeline/{definition['name']}")
        work = self.folder / "builds" / build_id.replace(":", "-")
        lines: list[str] = []
        log_file = (work.parent / f"{work.name}.log")
        work.mkdir(parents=True, exist_ok=True)

        def log(line: str) -> None:
            lines.append(line)
            with log_file.open("a") as out:
                out.write(line + "\n")

        builder = enforce.principal_of(project["serviceRole"], build_id.split(":", 1)[1])
        status, failure = "SUCCEEDED", ""
        try:
            self._open_log_stream(project, build_id, builder)
            with enforce.acting_as(builder):
                source_zip = self._get_artifact(execution, self._input(action))
            output = codebuild.run(build, source_zip, work, self.endpoint, self.registry, builder, log)
            with enforce.acting_as(builder):
                for artifact in action.get("outputArtifacts") or []:
                    self._put_artifact(definition, execution, record, artifact["name"], output)
        except codebuild.BuildFailed as exc:
            status, failure = "FAILED", str(exc)
        except LogsDenied as exc:
            status, failure = "FAILED", f"Phase: SUBMITTED, Code: ACCESS_DENIED, Message: {exc}"
            log(f"[Container] {failure}")
        except ClientError as exc:
            error = exc.response["Error"]
            status, failure = "FAILED", f"Code: CLIENT_ERROR, Message: {error.get('Code')}: {error.get('Message')}"
            log(f"[Container] {failure}")
        finally:
            self._write_logs(project, build_id, builder, lines)
            _record_build(name, build_id, status)
        with enforce.acting_as(role):  # CodePipeline reads the build's outcome with its role
            self.client("codebuild").batch_get_builds(ids=[build_id])
        record.summary = f"Build {status}: {log_file}"
        if failure:
            raise ActionFailed(f"Build terminated with state: FAILED. {failure}")

    @staticmethod
    def _log_stream(project: dict[str, Any], build_id: str) -> tuple[str, str] | None:
        """The build's CloudWatch Logs group and stream, when the project sends its logs there."""
        logs = (project.get("logsConfig") or {}).get("cloudWatchLogs") or {}
        if logs.get("status", "ENABLED") != "ENABLED":
            return None
        run = build_id.split(":", 1)[1]
        return (logs.get("groupName") or f"/aws/codebuild/{project['name']}",
                f"{logs['streamName']}/{run}" if logs.get("streamName") else run)

    def _open_log_stream(self, project: dict[str, Any], build_id: str, builder: enforce.Principal) -> None:
        """CodeBuild creates the build's log stream with the service role before anything runs; a role that
        may not fails the build at once."""
        where = self._log_stream(project, build_id)
        if where is None:
            return
        try:
            with enforce.acting_as(builder):
                self.client("logs").create_log_stream(logGroupName=where[0], logStreamName=where[1])
        except ClientError as exc:
            raise LogsDenied(f"Service role {project['serviceRole']} does not allow AWS CodeBuild to create Amazon "
                             f"CloudWatch Logs log streams for build {project['arn'].replace(':project/', ':build/')}"
                             f":{build_id.split(':', 1)[1]}. Error message: {exc}") from exc

    def _write_logs(self, project: dict[str, Any], build_id: str, builder: enforce.Principal,
                    lines: list[str]) -> None:
        where = self._log_stream(project, build_id)
        if where is None or not lines:
            return
        now = int(time.time() * 1000)
        try:
            with enforce.acting_as(builder):
                self.client("logs").put_log_events(logGroupName=where[0], logStreamName=where[1], logEvents=[
                    {"timestamp": now, "message": line} for line in lines])
        except ClientError as exc:  # the stream could not be opened: the build says so already
            LOG.warning("build %s: its log was not written to %s: %s", build_id, where[0], exc)

    def _cloudformation(self, definition: dict[str, Any], action: dict[str, Any], execution: Execution,
                        record: ActionRecord, role: enforce.Principal, commit: str | None) -> None:
        configuration = action["configuration"]
        if configuration.get("ActionMode") != "CREATE_UPDATE":
            raise ActionFailed(f"the sandbox runs the CloudFormation action in CREATE_UPDATE mode only, "
                               f"not {configuration.get('ActionMode')}")
        stack = configuration["StackName"]
        with enforce.acting_as(role):
            files = {name: self._artifact_files(execution, name) for name in
                     {p.split("::", 1)[0] for p in (configuration["TemplatePath"],
                                                     configuration.get("TemplateConfiguration", "x::y"))
                      if p != "x::y"}}
        template = _file(files, configuration["TemplatePath"]).decode()
        parameters: dict[str, str] = {}
        tags: dict[str, str] = {}
        if configuration.get("TemplateConfiguration"):
            template_configuration = json.loads(_file(files, configuration["TemplateConfiguration"]))
            if "StackPolicy" in template_configuration:
                raise ActionFailed("the sandbox's CloudFormation action does not apply a StackPolicy from the "
                                   "template configuration")
            parameters.update(template_configuration.get("Parameters", {}))
            tags.update(template_configuration.get("Tags", {}))
        parameters.update(json.loads(configuration.get("ParameterOverrides") or "{}"))
        role_arn = configuration.get("RoleArn")
        if role_arn and (refused := enforce.authorize(role, REGION, "iam:PassRole", role_arn,
                                                     {"iam:PassedToService": "cloudformation.amazonaws.com"})):
            raise ActionFailed(f"{refused[0]}: {refused[2]}")
        request: dict[str, Any] = {"StackName": stack, "TemplateBody": template,
                                   "Parameters": [{"ParameterKey": k, "ParameterValue": str(v)}
                                                  for k, v in parameters.items()],
                                   "Capabilities": [c.strip() for c in configuration.get("Capabilities", "")
                                                    .split(",") if c.strip()]}
        if role_arn:
            request["RoleARN"] = role_arn
        if tags:
            request["Tags"] = [{"Key": k, "Value": str(v)} for k, v in tags.items()]
        with enforce.acting_as(role):
            client = self.client("cloudformation")
            try:
                client.describe_stacks(StackName=stack)
                exists = True
            except ClientError as exc:
                if "does not exist" not in str(exc):
                    raise
                exists = False
            try:
                (client.update_stack if exists else client.create_stack)(**request)
            except ClientError as exc:
                if "No updates are to be performed" in str(exc):
                    record.summary = "No updates are to be performed"
                    return
                raise
            status = self._wait_for_stack(client, stack)
        record.external_id, record.summary = stack, status
        if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
            raise ActionFailed(f"Stack {stack} is in {status} state")

    def _wait_for_stack(self, client: Any, stack: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = str(client.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
            if not status.endswith("_IN_PROGRESS"):
                return status
            time.sleep(0.5)
        raise ActionFailed(f"Stack {stack} did not finish within {timeout:.0f} s")

    def _artifact_files(self, execution: Execution, name: str) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(self._get_artifact(execution, name))) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}

    def _step_functions(self, definition: dict[str, Any], action: dict[str, Any], execution: Execution,
                        record: ActionRecord, role: enforce.Principal, commit: str | None) -> None:
        configuration = action["configuration"]
        if configuration.get("InputType") == "FilePath":
            with enforce.acting_as(role):
                files = self._artifact_files(execution, self._input(action))
            path = configuration.get("Input", "")
            if path not in files:
                raise ActionFailed(f"the input file {path!r} is not in the artifact {self._input(action)!r}")
            payload = files[path].decode()
        else:
            payload = configuration.get("Input") or "{}"
        name = f"{configuration.get('ExecutionNamePrefix', '')}-{record.id}".lstrip("-")[:80]
        with enforce.acting_as(role):
            client = self.client("stepfunctions")
            arn = client.start_execution(stateMachineArn=configuration["StateMachineArn"], name=name,
                                         input=payload)["executionArn"]
            record.external_id = arn
            while True:  # CodePipeline polls the execution with the pipeline's role
                described = client.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    break
                time.sleep(1)
        record.summary = described["status"]
        if described["status"] != "SUCCEEDED":
            raise ActionFailed(f"Execution {described['status']}: {described.get('error', '')}: "
                               f"{described.get('cause', '')}".rstrip(": "))

    # the API's view

    def pipeline_state(self, name: str) -> dict[str, Any]:
        """GetPipelineState: each stage's latest execution and each action's."""
        pipeline, metadata = self.backend().get_pipeline(name)
        records = self.actions.get(name, [])
        stages = []
        for stage in pipeline["stages"]:
            actions = []
            latest_execution = None
            for action in stage["actions"]:
                latest = next((r for r in reversed(records)
                               if r.stage == stage["name"] and r.action["name"] == action["name"]), None)
                entry: dict[str, Any] = {"actionName": action["name"]}
                if latest is not None:
                    entry["latestExecution"] = {
                        "actionExecutionId": latest.id, "status": latest.status, "summary": latest.summary,
                        "lastStatusChange": iso_8601_datetime_with_milliseconds(latest.updated),
                        "externalExecutionId": latest.external_id,
                        **({"errorDetails": {"code": "JobFailed", "message": latest.error}} if latest.error else {})}
                    latest_execution = latest_execution or latest
                actions.append(entry)
            stage_state: dict[str, Any] = {"stageName": stage["name"], "inboundTransitionState": {"enabled": True},
                                           "actionStates": actions}
            last = max((r for r in records if r.stage == stage["name"]), key=lambda r: r.started, default=None)
            if last is not None:
                stage_status = last.status if last.status != "Succeeded" or all(
                    a.get("latestExecution", {}).get("status") == "Succeeded" for a in actions) else "InProgress"
                stage_state["latestExecution"] = {"pipelineExecutionId": last.pipeline_execution_id,
                                                  "status": stage_status}
            stages.append(stage_state)
        return {"pipelineName": name, "pipelineVersion": pipeline["version"], "stageStates": stages,
                "created": metadata["created"], "updated": metadata["updated"]}

    def action_executions(self, name: str, execution_id: str | None) -> list[dict[str, Any]]:
        self.backend().get_pipeline(name)  # a missing pipeline is PipelineNotFoundException
        records = [r for r in reversed(self.actions.get(name, []))
                   if execution_id is None or r.pipeline_execution_id == execution_id]
        return [r.to_dict() for r in records]


def _source_action(definition: dict[str, Any]) -> dict[str, Any] | None:
    for stage in definition.get("stages", [])[:1]:
        for action in stage["actions"]:
            if action["actionTypeId"]["provider"] == "CodeStarSourceConnection":
                return dict(action)
    return None


def _file(files: dict[str, dict[str, bytes]], reference: str) -> bytes:
    artifact, _, path = reference.partition("::")
    if path not in files.get(artifact, {}):
        raise ActionFailed(f"{reference}: no such file in the artifact {artifact!r}")
    return files[artifact][path]


def _record_build(project: str, build_id: str, status: str) -> None:
    """What BatchGetBuilds reports for the build: its outcome (moto's record, which has none of its own)."""
    for metadata in codebuild_backends[ACCOUNT][REGION].build_metadata_history.get(project, []):
        if metadata.get("id") == build_id:
            metadata["buildStatus"], metadata["currentPhase"] = status, "COMPLETED"
            metadata["buildComplete"] = True


def install_api(runner: PipelineRunner) -> None:
    """CodePipeline's API over the runner: StartPipelineExecution runs the pipeline ("Release change");
    GetPipelineState and ListActionExecutions, which moto lacks, report the runs."""
    from moto.codepipeline.responses import CodePipelineResponse

    def start_pipeline_execution(self: CodePipelineResponse) -> str:
        name = self._get_param("name")
        self.codepipeline_backend.get_pipeline(name)  # PipelineNotFoundException, as AWS answers
        trigger = {"triggerType": "StartPipelineExecution", "triggerDetail": "the sandbox's operator"}
        return json.dumps({"pipelineExecutionId": runner.start(name, trigger)})

    def get_pipeline_state(self: CodePipelineResponse) -> str:
        return json.dumps(runner.pipeline_state(self._get_param("name")), default=str)

    def list_action_executions(self: CodePipelineResponse) -> str:
        execution_id = (self._get_param("filter") or {}).get("pipelineExecutionId")
        found = runner.action_executions(self._get_param("pipelineName"), execution_id)
        return json.dumps({"actionExecutionDetails": found}, default=str)

    CodePipelineResponse.start_pipeline_execution = start_pipeline_execution  # type: ignore[method-assign]
    CodePipelineResponse.get_pipeline_state = get_pipeline_state  # type: ignore[attr-defined]
    CodePipelineResponse.list_action_executions = list_action_executions  # type: ignore[attr-defined]
