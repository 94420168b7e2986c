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
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.codebuild.models import codebuild_backends
from moto.codepipeline.models import codepipeline_backends
from moto.core.utils import utcnow

from sandbox.iam import enforce

from . import codebuild, source
from .model import ACCOUNT, REGION, ActionFailed, ActionRecord, Execution, LogsDenied, Queue

LOG = logging.getLogger("sandbox.pipeline")
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4})
# How long CodePipeline lets a Step Functions action run (its documented default action timeout).
STEP_FUNCTIONS_TIMEOUT = 7 * 24 * 3600


class PipelineRunner:
    account = ACCOUNT

    def __init__(self, state: Path, endpoint: str) -> None:
        self.folder, self.endpoint = state, endpoint
        self.registry = state / "registry"
        self.lock = threading.Lock()  # guards the records below, which runs write and the API reads
        self.on_change: Callable[[], None] = lambda: None  # told when a run changes its records (for snapshots)
        self._clients: dict[str, Any] = {}
        self.heads: dict[str, str | None] = {}  # pipeline -> the branch head last seen
        self.queues: dict[str, Queue] = {}
        self.sequence = 0
        self.actions: dict[str, list[ActionRecord]] = {}  # pipeline -> its action executions, oldest first
        self._session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox",  # noqa: S106
                                      region_name=REGION)

    def backend(self) -> Any:
        return codepipeline_backends[ACCOUNT][REGION]

    def records(self, name: str) -> list[ActionRecord]:
        """A copy of the pipeline's action executions, oldest first."""
        with self.lock:
            return [ActionRecord(**vars(r)) for r in self.actions.get(name, [])]

    def execution_summaries(self, name: str) -> list[dict[str, Any]]:
        """ListPipelineExecutions' summaries, newest first."""
        with self.lock:
            executions = list(self.backend().pipelines[name].executions.values())
            return [e.to_summary_dict() for e in reversed(executions)]

    # the sandbox's saved state

    def saved(self) -> dict[str, Any]:
        """What the runs keep outside moto: the heads seen, the action executions, the last sequence."""
        with self.lock:
            return {"heads": dict(self.heads), "actions": {k: list(v) for k, v in self.actions.items()},
                    "sequence": self.sequence}

    def restore(self, saved: dict[str, Any]) -> None:
        """After a restart: the runs that were under way have no thread any more, so they end Failed and say why
        (a commit pushed meanwhile still starts its own run: the heads are the ones seen before)."""
        reason = "interrupted: the sandbox stopped while this ran, and its run ended when the sandbox started again"
        with self.lock:
            self.heads, self.actions, self.sequence = saved["heads"], saved["actions"], saved["sequence"]
            for record in (r for records in self.actions.values() for r in records if r.status == "InProgress"):
                record.error, record.updated, record.status = reason, utcnow(), "Failed"
            for pipeline in self.backend().pipelines.values():
                for execution in pipeline.executions.values():
                    if getattr(execution, "status", None) == "InProgress":
                        execution.status_summary, execution.status = reason, "Failed"
                        execution.last_update_time = utcnow()
        for builds in codebuild_backends[ACCOUNT][REGION].build_metadata_history.values():
            for build in builds:  # a build under way ran in a process that is gone
                if build.get("buildStatus") == "IN_PROGRESS":
                    build["buildStatus"], build["currentPhase"], build["buildComplete"] = "FAILED", "COMPLETED", True

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
            queue.enqueue(execution.sequence)
        self.on_change()
        threading.Thread(target=self._run, args=(pipeline.pipeline, execution, queue, commit),
                         name=f"pipeline-{name}-{execution.sequence}", daemon=True).start()
        LOG.info("pipeline %s: execution %s started (%s)", name, execution.pipeline_execution_id,
                 trigger["triggerType"])
        return str(execution.pipeline_execution_id)

    # running

    def _run(self, definition: dict[str, Any], execution: Execution, queue: Queue, commit: str | None) -> None:
        stages = definition["stages"]
        status, summary = "Succeeded", None
        try:
            for index, stage in enumerate(stages):
                with queue.stage(index, execution.sequence, then=index + 1 if index + 1 < len(stages) else None):
                    self._stage(definition, stage, execution, commit)
        except ActionFailed as exc:
            status, summary = "Failed", str(exc)
        except Exception as exc:  # the execution fails and says why; the sandbox goes on
            LOG.exception("pipeline %s: execution %s crashed", definition["name"], execution.pipeline_execution_id)
            status, summary = "Failed", f"{type(exc).__name__}: {exc}"
        finally:
            queue.abandon(execution.sequence)  # whatever happened, the executions behind it go on
        with self.lock:  # the summary before the status: a reader never sees Failed without its reason
            execution.status_summary, execution.status = summary, status
            execution.last_update_time = utcnow()
        self.on_change()
        LOG.info("pipeline %s: execution %s %s %s", definition["name"], execution.pipeline_execution_id,
                 execution.status, execution.status_summary or "")

    def _stage(self, definition: dict[str, Any], stage: dict[str, Any], execution: Execution,
               commit: str | None) -> None:
        for action in sorted(stage["actions"], key=lambda a: int(a.get("runOrder", 1))):
            record = ActionRecord(execution.pipeline_execution_id, stage["name"], action, definition["version"])
            with self.lock:
                self.actions.setdefault(definition["name"], []).append(record)
            self.on_change()
            try:
                self._action(definition, action, execution, record, commit)
                self._finish(record, "Succeeded")
            except Exception as exc:  # every failure ends the action Failed with its reason, never InProgress
                if isinstance(exc, ClientError):
                    reason = f"{exc.response['Error'].get('Code')}: {exc.response['Error'].get('Message')}"
                elif isinstance(exc, (ActionFailed, source.SourceError)):
                    reason = str(exc)
                else:
                    LOG.exception("pipeline %s: action %s crashed", definition["name"], action["name"])
                    reason = f"{type(exc).__name__}: {exc}"
                self._finish(record, "Failed", reason)
                raise ActionFailed(f"{stage['name']}/{action['name']}: {reason}") from exc
            finally:
                execution.last_update_time = record.updated
                self.on_change()

    def _finish(self, record: ActionRecord, status: str, error: str = "") -> None:
        with self.lock:  # the error before the status, under the lock the API reads with
            record.error, record.updated, record.status = error, utcnow(), status
        self.on_change()

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
        """One client per service, made under the lock: a boto3 Session is not safe to share across threads,
        its clients are."""
        with self.lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(  # type: ignore[call-overload]
                    service, endpoint_url=self.endpoint, config=_CONFIG)
            return self._clients[service]

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
        outputs = action.get("outputArtifacts") or []
        summary = json.dumps({"ProviderType": "Sandbox", "CommitMessage": revision.message})
        execution.source_revisions = [{"actionName": action["name"], "revisionId": revision.commit,
                                       "revisionSummary": summary, "revisionUrl": f"file://{path}",
                                       "artifactName": outputs[0]["name"] if outputs else ""}]
        record.external_id, record.summary = revision.commit, revision.message
        body = source.archive(path, revision.commit)
        with enforce.acting_as(role):
            for output in outputs:
                self._put_artifact(definition, execution, record, output["name"], body)

    def _build(self, definition: dict[str, Any], action: dict[str, Any], execution: Execution,
               record: ActionRecord, role: enforce.Principal, commit: str | None) -> None:
        name = action["configuration"]["ProjectName"]
        revision = execution.source_revisions[0]["revisionId"] if execution.source_revisions else ""
        with enforce.acting_as(role):
            build_id = self.client("codebuild").start_build(projectName=name, sourceVersion=revision)["build"]["id"]
        record.external_id = build_id
        work = self.folder / "builds" / build_id.replace(":", "-")
        lines: list[str] = []
        log_file = (work.parent / f"{work.name}.log")
        work.mkdir(parents=True, exist_ok=True)

        def log(line: str) -> None:
            lines.append(line)
            with log_file.open("a") as out:
                out.write(line + "\n")

        project: dict[str, Any] = {}
        builder: enforce.Principal | None = None
        status, failure = "FAILED", "the build did not run"  # until it has run to its end
        try:
            project = codebuild_backends[ACCOUNT][REGION].batch_get_projects([name])[0]
            where = execution.artifacts[self._input(action)]
            build = codebuild.Build(build_id, project, f"arn:aws:s3:::{where['bucket']}/{where['key']}", revision,
                                    f"codepipeline/{definition['name']}")
            builder = enforce.principal_of(project["serviceRole"], build_id.split(":", 1)[1])
            self._open_log_stream(project, build_id, builder)
            with enforce.acting_as(builder):
                source_zip = self._get_artifact(execution, self._input(action))
            output = codebuild.run(build, source_zip, work, self.endpoint, self.registry, builder, log)
            with enforce.acting_as(builder):
                for artifact in action.get("outputArtifacts") or []:
                    self._put_artifact(definition, execution, record, artifact["name"], output)
            status, failure = "SUCCEEDED", ""
        except codebuild.BuildFailed as exc:
            status, failure = "FAILED", str(exc)
        except LogsDenied as exc:
            status, failure = "FAILED", f"Phase: SUBMITTED, Code: ACCESS_DENIED, Message: {exc}"
            log(f"[Container] {failure}")
        except ClientError as exc:
            error = exc.response["Error"]
            status, failure = "FAILED", f"Code: CLIENT_ERROR, Message: {error.get('Code')}: {error.get('Message')}"
            log(f"[Container] {failure}")
        except Exception as exc:  # the build fails and says why; the sandbox goes on
            LOG.exception("build %s crashed", build_id)
            status, failure = "FAILED", f"Code: INTERNAL_ERROR, Message: {type(exc).__name__}: {exc}"
            log(f"[Container] {failure}")
        finally:
            if builder is not None:
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
        references = [r for r in (configuration["TemplatePath"], configuration.get("TemplateConfiguration")) if r]
        with enforce.acting_as(role):
            files = {name: self._artifact_files(execution, name) for name in {r.split("::", 1)[0] for r in references}}
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
        overrides = json.loads(configuration.get("ParameterOverrides") or "{}")
        if not all(isinstance(v, str) for v in overrides.values()):  # Fn::GetParam and the like
            raise ActionFailed("the sandbox's CloudFormation action takes ParameterOverrides of plain strings only")
        parameters.update(overrides)
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
                if exc.response["Error"].get("Code") != "ValidationError" or "does not exist" not in str(exc):
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
            deadline = time.monotonic() + STEP_FUNCTIONS_TIMEOUT
            while True:  # CodePipeline polls the execution with the pipeline's role
                described = client.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    break
                if time.monotonic() > deadline:
                    raise ActionFailed(f"The execution {arn} did not end within the action's timeout "
                                       f"({STEP_FUNCTIONS_TIMEOUT // 3600} hours)")
                time.sleep(1)
        record.summary = described["status"]
        if described["status"] != "SUCCEEDED":
            raise ActionFailed(f"Execution {described['status']}: {described.get('error', '')}: "
                               f"{described.get('cause', '')}".rstrip(": "))

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


