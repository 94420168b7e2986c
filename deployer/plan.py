"""Plan: a pure function from what the user asked and what was observed to a list of plain-data steps.

No AWS, no clock, no environment: every decision about what to create, upload, update or delete is made
here and unit-tested without AWS. `execute.py` performs the steps; `--dry-run` only prints them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import DeployError
from .settings import Settings
from .state import SIDES, Observed, StackState

# What to do about a stack that cannot be updated, by status.
RECOVERY = {
    "ROLLBACK_COMPLETE": "its first creation failed and was rolled back; delete it "
                         "(`python3 deploy.py destroy --aws`) and deploy again",
    "ROLLBACK_FAILED": "delete it in the CloudFormation console (retain the resources it names), then deploy again",
    "DELETE_FAILED": "delete it again in the CloudFormation console, retaining the resources it names",
    "UPDATE_ROLLBACK_FAILED": "run `aws cloudformation continue-update-rollback --stack-name {name}`, "
                              "then deploy again",
    "IMPORT_ROLLBACK_FAILED": "resolve the import in the CloudFormation console, then deploy again",
}


@dataclass(frozen=True)
class Output:
    """A stack output that is known once an earlier step has deployed that stack."""

    stack: str
    key: str

    def __str__(self) -> str:
        return f"<{self.key} of {self.stack}>"


Value = str | Output | None  # None: keep the stack's current value


@dataclass(frozen=True)
class CreateBucket:
    name: str
    region: str
    tls_only: bool


@dataclass(frozen=True)
class Upload:
    bucket: str
    keys: tuple[str, ...]
    unchanged: int


@dataclass(frozen=True)
class DeployStack:
    name: str
    template_url: str
    parameters: Mapping[str, Value]
    create: bool
    preview: tuple[str, ...] = ()  # what is known to change, without asking CloudFormation


@dataclass(frozen=True)
class DeleteStack:
    name: str


@dataclass(frozen=True)
class DeleteBucket:
    name: str


@dataclass(frozen=True)
class EmptyBucket:
    """Delete every object version and delete marker of a bucket that deleting `stack` deletes."""

    name: str
    stack: str


@dataclass(frozen=True)
class Keep:
    what: str
    why: str


Step = CreateBucket | Upload | DeployStack | DeleteStack | EmptyBucket | DeleteBucket | Keep


@dataclass(frozen=True)
class Artifacts:
    """What `deploy.py` built locally: the objects to upload and which of them to deploy."""

    bucket: str
    objects: Mapping[str, bytes]
    parent_key: str
    service_key: str
    code_key: str
    url_base: str = field(default="")

    def url(self, key: str) -> str:
        return f"{self.url_base}/{key}"


def s3_url_base(bucket: str, region: str, dns_suffix: str) -> str:
    # The sandbox reads the same virtual-hosted URL from its own S3; it never resolves the host.
    return f"https://{bucket}.s3.{region}.{dns_suffix}"


def bucket_name(settings: Settings, account: str, region: str, observed: Observed | None) -> str:
    """The bucket asked for, else the one the stack uses, else the one deploy.py creates."""
    deployed = observed.parent.parameter("CodeBucket") if observed and observed.parent else ""
    return settings.bucket or deployed or f"{settings.name}-artifacts-{account}-{region}"


# Settings that the parent stack records, by its parameter, and how to read each back.
_RECORDED: dict[str, tuple[str, Callable[[str], Any]]] = {
    "test_cidr": ("TestCidr", str), "production_cidr": ("ProductionCidr", str),
    "production_port": ("ProductionPort", int), "test_port": ("TestPort", int),
    "certificate_arn": ("CertificateArn", str), "launch_type": ("LaunchType", str),
    "task_subnets": ("TaskSubnets", str), "container_port": ("ContainerPort", int),
    "health_check_path": ("HealthCheckPath", str), "connection_arn": ("ConnectionArn", str),
    "repository": ("RepositoryId", str), "branch": ("BranchName", str), "strategy": ("Strategy", str),
    "bake_seconds": ("BakeSeconds", int), "health_deadline_seconds": ("HealthDeadlineSeconds", int),
    "judge": ("Judge", str), "judge_period_seconds": ("JudgePeriodSeconds", int), "hooks": ("Hooks", str),
}


def deployed_settings(parent: StackState) -> dict[str, Any]:
    """What the deployed stack says was asked, as settings fields: the one place its parameters are read back."""
    values = {field_: read(parent.parameters[key]) for field_, (key, read) in _RECORDED.items()
              if key in parent.parameters}
    emails = tuple(parent.parameters[key] for key in ("ApproverEmail1", "ApproverEmail2", "ApproverEmail3")
                   if parent.parameters.get(key))
    if emails:
        values["approver_emails"] = emails
    if "AlarmNames" in parent.parameters:
        values["alarm_names"] = tuple(a for a in parent.parameters["AlarmNames"].split(",") if a)
    return values


def resolve(defaults: Settings, asked: Mapping[str, Any], observed: Observed) -> Settings:
    """The settings to deploy: what was asked, else what is deployed, else the target's defaults.

    A redeploy changes only what it is asked to: it never moves a listener, drops HTTPS or an alarm, or
    reopens a CIDR as a side effect.
    """
    recorded = deployed_settings(observed.parent) if observed.parent is not None else {}
    return replace(defaults, **{**recorded, **asked})


def check_updatable(state: StackState | None) -> None:
    if state is None:
        return
    if state.status in RECOVERY:
        raise DeployError(f"Stack {state.name} is {state.status}: {RECOVERY[state.status].format(name=state.name)}. "
                          "Nothing was changed.")
    if state.status.endswith("_IN_PROGRESS") and state.status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"Stack {state.name} is {state.status}: another operation is running. Wait for it to "
                          "finish (watch it in the CloudFormation console), then deploy again. Nothing was changed.")


def parent_parameters(settings: Settings, artifacts: Artifacts, live_side: str) -> dict[str, Value]:
    emails = [*settings.approver_emails, "", ""]
    return {
        "Name": settings.name, "ApproverEmail1": emails[0], "ApproverEmail2": emails[1], "ApproverEmail3": emails[2],
        "TestCidr": settings.test_cidr, "ProductionCidr": settings.production_cidr,
        "ProductionPort": str(settings.production_port), "TestPort": str(settings.test_port),
        "CertificateArn": settings.certificate_arn, "LaunchType": settings.launch_type,
        "TaskSubnets": settings.task_subnets, "ContainerPort": str(settings.container_port),
        "HealthCheckPath": settings.health_check_path, "LiveSide": live_side,
        "CodeBucket": artifacts.bucket, "CodeKey": artifacts.code_key, "ServiceTemplateKey": artifacts.service_key,
        "ConnectionArn": settings.connection_arn, "RepositoryId": settings.repository, "BranchName": settings.branch,
        "Strategy": settings.strategy, "BakeSeconds": str(settings.bake_seconds),
        "HealthDeadlineSeconds": str(settings.health_deadline_seconds),
        "AlarmNames": ",".join(settings.alarm_names),
        "Judge": settings.judge, "JudgePeriodSeconds": str(settings.judge_period_seconds),
        "Hooks": settings.hooks,
        **settings.extra_parameters,
    }


# The service stack's inputs that come from the parent stack's outputs.
_FROM_PARENT = ("ClusterName", "TaskSubnets", "TaskSecurityGroupId", "AssignPublicIp", "Code1TargetGroupArn",
                "Code2TargetGroupArn", "TaskExecutionRoleArn", "TaskRoleArn", "ApplicationLogGroup")


def service_parameters(settings: Settings, images: Mapping[str, str | None]) -> dict[str, Value]:
    return {"Name": settings.name, **{side: images.get(side) for side in SIDES},
            **{key: Output(settings.stack, key) for key in _FROM_PARENT},
            "LaunchType": settings.launch_type, "ContainerPort": str(settings.container_port)}


def keep_the_rest(parameters: dict[str, Value], state: StackState | None, template: bytes) -> dict[str, Value]:
    """On an update, every deployed parameter the plan does not set keeps its value (CloudFormation would put
    the template's default back: an operator's DesiredCount, a log retention), if the template still has it."""
    if state is None:
        return parameters
    declared = json.loads(template).get("Parameters", {})
    return {**{key: None for key in state.parameters if key in declared}, **parameters}


def preview(state: StackState | None, template: bytes, parameters: Mapping[str, Value]) -> tuple[str, ...]:
    """What is known to change without asking CloudFormation: the template and the parameters."""
    new_template = json.loads(template)
    if state is None:
        resources = new_template.get("Resources", {})
        return tuple(f"Add     {r['Type']:<45} {name}" for name, r in sorted(resources.items()))
    changed = [] if state.template == new_template else ["template changed"]
    for key, value in sorted(parameters.items()):
        if isinstance(value, str) and value != state.parameters.get(key, ""):
            changed.append(f"parameter {key}: {state.parameters.get(key, '')!r} -> {value!r}")
    return tuple(changed)


def plan_up(settings: Settings, artifacts: Artifacts, observed: Observed, tls_only: bool) -> list[Step]:
    """Bucket, artifacts, the parent stack, then the service pair (which needs the parent's outputs); a pipeline
    being added comes last, by a second update of the parent."""
    check_updatable(observed.parent)
    check_updatable(observed.service)
    if observed.running:
        raise DeployError(f"A release is in progress ({', '.join(observed.running)}): an update now could move "
                          "production under it. Wait for it to end (`python3 deploy.py status`), or decide or "
                          "abort it, then deploy again. Nothing was changed.")
    steps: list[Step] = []
    bucket = observed.bucket
    if bucket is None or not bucket.exists:
        if settings.bucket:
            raise DeployError(f"Bucket {settings.bucket} (--bucket) does not exist. Create it first, or leave out "
                              "--bucket and deploy.py creates one. Nothing was changed.")
        steps.append(CreateBucket(artifacts.bucket, observed.region, tls_only))
    elif not bucket.readable:
        raise DeployError(f"Bucket {bucket.name} exists but is not yours (or you may not read it). "
                          "Pass --bucket with a bucket of your own. Nothing was changed.")
    elif bucket.region != observed.region:
        raise DeployError(f"Bucket {bucket.name} is in {bucket.region}, but you deploy to {observed.region}: "
                          "CloudFormation and Lambda need the bucket in the same region. Use --region "
                          f"{bucket.region}, or a bucket in {observed.region}. Nothing was changed.")
    missing = tuple(sorted(set(artifacts.objects) - observed.present_keys))
    steps.append(Upload(artifacts.bucket, missing, len(artifacts.objects) - len(missing)))

    parent = keep_the_rest(parent_parameters(settings, artifacts, observed.live_side or "Code1"), observed.parent,
                           artifacts.objects[artifacts.parent_key])
    # CodePipeline starts every new pipeline at once (an execution triggered by its creation; there is no setting
    # against it), and that run puts the head commit's image on green: its PrepareRelease reads the services and
    # its UpdateGreenService updates the service stack. Created before the service stack, the pipeline would fail
    # that run, or race deploy.py creating the stack. So the pipeline (ConnectionArn turns it on) is added by a last
    # update of the parent, once the service stack exists; the parent is first deployed without it.
    has_pipeline = observed.parent is not None and bool(observed.parent.parameter("ConnectionArn"))
    adds_pipeline = bool(settings.connection_arn) and not has_pipeline
    first = {**parent, "ConnectionArn": ""} if adds_pipeline else parent
    steps.append(DeployStack(settings.stack, artifacts.url(artifacts.parent_key), first,
                             create=observed.parent is None or observed.parent.status == "REVIEW_IN_PROGRESS",
                             preview=preview(observed.parent, artifacts.objects[artifacts.parent_key], first)))
    creating = observed.service is None or observed.service.status == "REVIEW_IN_PROGRESS"
    # A new service pair starts with the initial image on both sides; an existing one keeps what it runs.
    images: dict[str, str | None] = dict.fromkeys(SIDES, settings.image if creating else None)
    service = keep_the_rest(service_parameters(settings, images), observed.service,
                            artifacts.objects[artifacts.service_key])
    steps.append(DeployStack(settings.service_stack, artifacts.url(artifacts.service_key), service, creating,
                             preview(observed.service, artifacts.objects[artifacts.service_key], service)))
    if adds_pipeline:
        steps.append(DeployStack(settings.stack, artifacts.url(artifacts.parent_key), parent, create=False,
                                 preview=(f"parameter ConnectionArn: '' -> {settings.connection_arn!r}: adds the "
                                          "pipeline, now that the service stack it deploys to exists",)))
    return steps


def plan_images(settings: Settings, observed: Observed, images: Mapping[str, str]) -> list[Step]:
    """Update the service pair's images (Code1/Code2); every other parameter keeps its deployed value."""
    if observed.parent is None or observed.service is None:
        raise DeployError(f"{settings.stack} is not fully deployed here. Run `python3 deploy.py` first.")
    check_updatable(observed.service)
    bucket, key = observed.parent.parameter("CodeBucket"), observed.parent.parameter("ServiceTemplateKey")
    if not (bucket and key):
        raise DeployError(f"Stack {settings.stack} does not say where its service template is (CodeBucket, "
                          "ServiceTemplateKey). Run `python3 deploy.py` to repair it.")
    # The deployed values, stated (the stack has no NoEcho parameter): the plan says exactly what is sent.
    parameters: dict[str, Value] = dict(observed.service.parameters)
    parameters.update({side: images[side] for side in SIDES if side in images})
    changes = tuple(f"parameter {side}: {observed.service.parameters.get(side, '')!r} -> {image!r}"
                    for side, image in sorted(images.items()) if observed.service.parameters.get(side) != image)
    url = f"{s3_url_base(bucket, observed.region, observed.partition.dns_suffix)}/{key}"
    return [DeployStack(settings.service_stack, url, parameters, create=False, preview=changes)]


def plan_destroy(settings: Settings, observed: Observed, default_bucket: str) -> list[Step]:
    """The services first (they hold targets in the load balancer's target groups), then the rest. A bucket a stack
    created (the pipeline's versioned artifact store) is emptied right before that stack is deleted: CloudFormation
    deletes only empty buckets, and would leave the stack DELETE_FAILED."""
    steps: list[Step] = []
    for name, state in ((settings.service_stack, observed.service), (settings.stack, observed.parent)):
        if state:
            steps += [EmptyBucket(b.name, name) for b in observed.owned_buckets if b.stack == name and not b.retained]
            steps.append(DeleteStack(name))
    steps += [Keep(f"bucket {b.name}", f"stack {b.stack} retains it (DeletionPolicy Retain)")
              for b in observed.owned_buckets if b.retained]
    deployed_bucket = observed.parent.parameter("CodeBucket") if observed.parent else ""
    if settings.bucket:
        steps.append(Keep(f"bucket {settings.bucket}", "you provided it (--bucket)"))
    elif deployed_bucket and deployed_bucket != default_bucket:
        # Only the bucket deploy.py creates is deploy.py's to delete; another one was the user's (--bucket).
        steps.append(Keep(f"bucket {deployed_bucket}", "deploy.py did not create it (it was given with --bucket)"))
    else:
        steps.append(DeleteBucket(default_bucket))
    steps.append(Keep(f"ECR repository {settings.name} (if the pipeline created it)",
                      "images are release history (DeletionPolicy Retain); delete it with "
                      "`aws ecr delete-repository --force`"))
    steps.append(Keep(f"KMS key alias/{settings.name}-release",
                      "logs and artifacts encrypted with it may outlive the stack; schedule its deletion with "
                      "`aws kms schedule-key-deletion` when you no longer need them"))
    return steps


def describe(step: Step) -> list[str]:
    """A step as lines a person reads: what `--dry-run` prints and the executor narrates."""
    match step:
        case CreateBucket(name, region, tls_only):
            return [f"create artifact bucket {name} in {region} (private, encrypted, versioned"
                    f"{', TLS only' if tls_only else ''})"]
        case Upload(bucket, keys, unchanged):
            return [f"upload {len(keys)} new object(s) to s3://{bucket} ({unchanged} unchanged)",
                    *(f"    {key}" for key in keys)]
        case DeployStack(name, _, _, create, preview_):
            lines = [f"{'create' if create else 'update'} stack {name}"]
            if not create and not preview_:
                lines[0] += ": no change to its template or parameters known before CloudFormation plans it"
            return lines + [f"    {line}" for line in preview_]
        case DeleteStack(name):
            return [f"delete stack {name}"]
        case EmptyBucket(name, stack):
            return [f"empty bucket {name} (every object version and delete marker), which deleting stack {stack} "
                    "deletes"]
        case DeleteBucket(name):
            return [f"empty (every version) and delete bucket {name}"]
        case Keep(what, why):
            return [f"keep {what}: {why}"]
    raise AssertionError(step)
