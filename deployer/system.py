"""Bootstrap and teardown of the whole system: artifacts, the parent stack, the service pair stack."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from release.exceptions import ReleaseError
from release.gateways.elbv2 import LoadBalancing
from release.topology import IDENTIFIER_TAG, single_target

from . import artifacts, package, stacks, templates
from .console import Console
from .errors import DeployError
from .settings import Settings, validate
from .target import Target

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"


@dataclass
class UpResult:
    parent: stacks.StackResult
    service: stacks.StackResult | None
    outputs: dict[str, str] = field(default_factory=dict)
    code_key: str = ""


def up(target: Target, settings: Settings, console: Console, dry_run: bool = False,
       ports_given: set[str] | None = None) -> UpResult:
    """`ports_given`: the ports asked for on the command line; the others keep their deployed values."""
    validate(settings)
    account = target.account()
    if ports_given is not None:
        settings = keep_deployed_ports(target, settings, ports_given)
    bucket = settings.bucket or artifacts.bucket_name(settings.name, account, target.region)
    console.step(f"deploying {settings.name} to {'the sandbox' if target.is_sandbox else f'account {account}'} "
                 f"in {target.region}")
    s3, cfn = target.client("s3"), target.client("cloudformation")
    # The sandbox's endpoint is plain HTTP on loopback, where a TLS-only policy would refuse every call.
    artifacts.ensure_bucket(s3, bucket, target.region, console, create=settings.bucket is None,
                            tls_only=not target.is_sandbox)

    # In the sandbox the handlers run with this machine's packages; on AWS they travel in the zip.
    dependencies = None if target.is_sandbox else package.install_dependencies(
        ROOT / "handlers" / "requirements.txt", BUILD)
    code = package.build_zip(dependencies)
    code_key = templates.content_key("code", code, ".zip")
    packaged = templates.package(bucket, target.region)
    artifacts.upload(s3, bucket, {**packaged.objects, code_key: code}, console)

    parameters: stacks.Parameters = {
        "Name": settings.name, "ApproverEmail1": settings.approver_emails[0],
        "ApproverEmail2": (settings.approver_emails[1:2] or [""])[0],
        "ApproverEmail3": (settings.approver_emails[2:3] or [""])[0],
        "TestCidr": settings.test_cidr, "ProductionCidr": settings.production_cidr,
        "ProductionPort": str(settings.production_port), "TestPort": str(settings.test_port),
        "CertificateArn": settings.certificate_arn, "LaunchType": settings.launch_type,
        "TaskSubnets": settings.task_subnets, "ContainerPort": str(settings.container_port),
        "HealthCheckPath": settings.health_check_path,
        "LiveSide": live_side(target, settings, cfn),
        "CodeBucket": bucket, "CodeKey": code_key, "ServiceTemplateKey": packaged.service_key,
        "ConnectionArn": settings.connection_arn, "RepositoryId": settings.repository, "BranchName": settings.branch,
        "Strategy": settings.strategy, "BakeSeconds": str(settings.bake_seconds),
        "AlarmNames": ",".join(settings.alarm_names),
        **settings.extra_parameters,
    }
    url = f"{_s3_base(target, bucket)}/{packaged.parent_key}"
    parent = stacks.deploy(cfn, console, settings.stack, url, parameters, dry_run)
    _report(console, settings.stack, parent)
    if dry_run and parent.outcome is stacks.Outcome.DRY_RUN and not stacks.describe(cfn, settings.stack):
        return UpResult(parent, None, code_key=code_key)
    out = parent.outputs or stacks.outputs(stacks.describe(cfn, settings.stack))
    service = deploy_service(target, settings, console, out, f"{_s3_base(target, bucket)}/{packaged.service_key}",
                             images=None, dry_run=dry_run)
    return UpResult(parent, service, out, code_key)


def deploy_service(target: Target, settings: Settings, console: Console, out: dict[str, str], template_url: str,
                   images: dict[str, str] | None, dry_run: bool = False) -> stacks.StackResult:
    """Create or update the service pair; `images` sets Code1/Code2, None keeps what runs now."""
    cfn = target.client("cloudformation")
    exists = stacks.describe(cfn, settings.service_stack) is not None
    keep: str | None = None
    initial = settings.image
    parameters: stacks.Parameters = {
        "Name": settings.name,
        "Code1": (images or {}).get("Code1", keep if exists else initial),
        "Code2": (images or {}).get("Code2", keep if exists else initial),
        "ClusterName": out["ClusterName"], "LaunchType": settings.launch_type,
        "TaskSubnets": out["TaskSubnets"], "TaskSecurityGroupId": out["TaskSecurityGroupId"],
        "AssignPublicIp": out["AssignPublicIp"],
        "Code1TargetGroupArn": out["Code1TargetGroupArn"], "Code2TargetGroupArn": out["Code2TargetGroupArn"],
        "TaskExecutionRoleArn": out["TaskExecutionRoleArn"], "TaskRoleArn": out["TaskRoleArn"],
        "ApplicationLogGroup": out["ApplicationLogGroup"], "ContainerPort": str(settings.container_port),
    }
    result = stacks.deploy(cfn, console, settings.service_stack, template_url, parameters, dry_run)
    _report(console, settings.service_stack, result)
    return result


def service_template_url(target: Target, cfn: Any, settings: Settings) -> str:
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "")
                  for p in (stacks.describe(cfn, settings.stack) or {}).get("Parameters", [])}
    if "CodeBucket" not in parameters:
        raise DeployError(f"Stack {settings.stack} is not deployed here. Run `python deploy.py` first.")
    return f"{_s3_base(target, parameters['CodeBucket'])}/{parameters['ServiceTemplateKey']}"


def keep_deployed_ports(target: Target, settings: Settings, given: set[str]) -> Settings:
    """Ports not given on the command line stay what the deployed stack has: moving a listener (and every
    user of it) is never a side effect of a redeploy."""
    stack = stacks.describe(target.client("cloudformation"), settings.stack)
    if stack is None:
        return settings
    current = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}

    def port(field: str, key: str, asked: int) -> int:
        return asked if field in given or not current.get(key) else int(current[key])

    return replace(settings, production_port=port("production_port", "ProductionPort", settings.production_port),
                   test_port=port("test_port", "TestPort", settings.test_port))


def live_side(target: Target, settings: Settings, cfn: Any) -> str:
    """Code1 or Code2: read from the production listener, so an update never moves production.

    No stack yet means a first deployment (Code1). A stack whose listener cannot be read is an error,
    never a guess.
    """
    out = stacks.outputs(stacks.describe(cfn, settings.stack))
    if "LoadBalancerName" not in out:
        return str(settings.extra_parameters.get("LiveSide", "Code1"))
    try:
        gateway = LoadBalancing(target.client("elbv2"))
        lb = gateway.load_balancer(out["LoadBalancerName"])
        arn = single_target(gateway.listener(lb.arn, settings.production_port, "production"))
        identifier = gateway.tags([arn]).get(arn, {}).get(IDENTIFIER_TAG)
    except ReleaseError as exc:
        raise DeployError(f"Could not read which side is live ({type(exc).__name__}: {exc}). Nothing was changed; "
                          "fix the load balancer or finish the release in progress, then deploy again.") from exc
    if identifier not in {"Code1", "Code2"}:
        raise DeployError(f"The production target group {arn} has {IDENTIFIER_TAG}={identifier!r}; expected Code1 "
                          "or Code2. Restore the tag, then deploy again. Nothing was changed.")
    return str(identifier)


def _s3_base(target: Target, bucket: str) -> str:
    # The sandbox reads the same virtual-hosted URL from its own S3; it never resolves the host.
    return f"https://{bucket}.s3.{target.region}.amazonaws.com"


def _report(console: Console, name: str, result: stacks.StackResult) -> None:
    words = {stacks.Outcome.CREATED: "created", stacks.Outcome.UPDATED: "updated",
             stacks.Outcome.UNCHANGED: "unchanged: nothing to do", stacks.Outcome.DRY_RUN: "dry run"}
    console.step(f"stack {name}: {words[result.outcome]}")
    for change in result.changes:
        console.say(f"    {change}")


@dataclass
class DestroyResult:
    deleted: list[str]
    kept: list[str]


def destroy(target: Target, settings: Settings, console: Console) -> DestroyResult:
    cfn, s3 = target.client("cloudformation"), target.client("s3")
    account = target.account()
    deleted, kept = [], []
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "")
                  for p in (stacks.describe(cfn, settings.stack) or {}).get("Parameters", [])}
    # The services first: they hold targets in the load balancer's target groups.
    for name in (settings.service_stack, settings.stack):
        console.step(f"deleting stack {name}")
        if stacks.delete(cfn, console, name):
            deleted.append(f"stack {name}")
    bucket = parameters.get("CodeBucket") or artifacts.bucket_name(settings.name, account, target.region)
    if settings.bucket:
        kept.append(f"bucket {settings.bucket}: you provided it (--bucket)")
    else:
        try:
            artifacts.empty_and_delete(s3, bucket)
            deleted.append(f"bucket {bucket}")
        except Exception as exc:  # noqa: BLE001 - report and go on: the stacks are gone already
            kept.append(f"bucket {bucket}: could not delete it ({exc}); empty and delete it by hand")
    kept.append(f"ECR repository {settings.name} (if the pipeline created it): images are release history "
                "(DeletionPolicy Retain); delete it with `aws ecr delete-repository --force`")
    kept.append(f"KMS key alias/{settings.name}-release: logs and artifacts encrypted with it may outlive the stack; "
                "schedule its deletion with `aws kms schedule-key-deletion` when you no longer need them")
    return DestroyResult(deleted, kept)
