"""What moto lacks for this product, added to moto (never worked around in the product).

Each gap is filled by one named patch in `PATCHES`; the patch's builder says in its docstring what moto
lacks and what is done instead. A patch replaces attributes of moto's private internals, so it is checked
against one moto version (`MOTO_VERSION`, the pin in requirements.txt): `install()` refuses any other, and
`tests/functional/test_moto_ext.py` shows for every patch the gap in plain moto and the patch filling it,
so that after an upgrade the failing tests name the patches to drop or rework.

Not patches: `settle_service` (ECS services never reach steady state, as no task runs: it makes a service's
deployment complete, as ECS would once its tasks are running) and `set_target_health`.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.models import ChangeSet, Stack
from moto.codebuild.models import CodeBuild, codebuild_backends
from moto.codepipeline.models import CodePipeline, codepipeline_backends
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import pascal_to_camelcase, utcnow
from moto.dynamodb.models import DynamoDBBackend
from moto.ecs.models import Service as EcsService
from moto.ecs.models import ecs_backends
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup, elbv2_backends
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.responses import StepFunctionResponse

# The moto version every patch was checked against; requirements.txt pins the same (a test compares them).
MOTO_VERSION = "5.2.5"

_lock = threading.RLock()
_write_lock = threading.RLock()
_installed = False
JOB_RESULTS: dict[str, dict[str, Any]] = {}  # job id -> {"status": "Succeeded"|"Failed", ...}
TARGET_HEALTH: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}  # (tg arn, target id) -> state


class MotoVersionMismatch(RuntimeError):
    """The installed moto is not the version the patches were checked against."""


@dataclass(frozen=True)
class Replacement:
    """One attribute of a class or module, or one item of a dict, that a patch sets."""

    owner: Any
    name: str
    value: Any


Builder = Callable[[], list[Replacement]]


@dataclass(frozen=True)
class Patch:
    name: str
    build: Builder  # called when applied, so that a wrapper wraps what is in place then
    default: bool = True  # applied by install(); the others by a function of their own

    @property
    def gap(self) -> str:
        return inspect.getdoc(self.build) or ""


PATCHES: dict[str, Patch] = {}  # in the order they are applied
_ABSENT = object()  # the attribute was inherited (or the item missing): restoring deletes it
_applied: dict[str, list[tuple[Any, str, Any]]] = {}  # patch name -> what it replaced, in the order applied


def _patch(name: str, default: bool = True) -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        PATCHES[name] = Patch(name, build, default)
        return build

    return register


def install(check_version: bool = True) -> None:
    """Patch moto once per process; safe to call again.

    `check_version=False` is for the per-patch tests only: they are how a new moto version gets checked.
    """
    global _installed
    if check_version:
        check_moto_version(version("moto"))
    with _lock:
        if _installed:
            return
        for patch in PATCHES.values():
            if patch.default:
                _apply(patch)
        _installed = True


def check_moto_version(installed: str) -> None:
    if installed == MOTO_VERSION:
        return
    raise MotoVersionMismatch(
        f"moto {installed} is installed, but sandbox/moto_ext.py patches moto's internals as they are in moto "
        f"{MOTO_VERSION}. Either install the pinned version (python -m pip install -r requirements.txt), or "
        f"re-check each patch against moto {installed}: run `python -m pytest tests/functional/test_moto_ext.py`; "
        "a failing test_moto_lacks_<patch> means moto now does it (drop the patch), a failing "
        "test_patch_fills_<patch> means the patch needs rework. Then set MOTO_VERSION in sandbox/moto_ext.py "
        "and the pin in requirements.txt to the new version.")


def applied() -> list[str]:
    """The names of the patches in place, in the order they were applied."""
    with _lock:
        return list(_applied)


@contextmanager
def without(*names: str) -> Iterator[None]:
    """Run a block with the named patches removed (to see the gap each one fills), then put them back."""
    with _changed(lambda before: [name for name in before if name not in names], names):
        yield


@contextmanager
def including(*names: str) -> Iterator[None]:
    """Run a block with the named patches applied as well (the ones `install` leaves out), then remove them."""
    with _changed(lambda before: before + [name for name in names if name not in before], names):
        yield


@contextmanager
def _changed(change: Callable[[list[str]], list[str]], names: tuple[str, ...]) -> Iterator[None]:
    unknown = sorted(set(names) - set(PATCHES))
    if unknown:
        raise KeyError(f"no such moto patch: {', '.join(unknown)} (known: {', '.join(PATCHES)})")
    with _lock:
        before = list(_applied)
        _reapply(change(before))
    try:
        yield
    finally:
        with _lock:
            _reapply(before)


def _reapply(names: list[str]) -> None:
    # Undo every patch, last first (some wrap what an earlier one put in place), then apply `names` afresh.
    for name in reversed(list(_applied)):
        for owner, attribute, original in reversed(_applied.pop(name)):
            _write(owner, attribute, original)
    for name in names:
        _apply(PATCHES[name])


def _apply(patch: Patch) -> None:
    if patch.name in _applied:
        return
    try:
        replacements = patch.build()
    except (ImportError, AttributeError) as exc:  # moto's internals moved: say which patch no longer fits
        raise RuntimeError(f"the moto patch {patch.name!r} does not fit moto {version('moto')}: {exc}") from exc
    _applied[patch.name] = [(r.owner, r.name, _read(r.owner, r.name)) for r in replacements]
    for replacement in replacements:
        _write(replacement.owner, replacement.name, replacement.value)


def _read(owner: Any, name: str) -> Any:
    # The owner's own entry, not what getattr finds: a classmethod must go back as the classmethod it was.
    space = owner if isinstance(owner, dict) else vars(owner)
    return space.get(name, _ABSENT)


def _write(owner: Any, name: str, value: Any) -> None:
    if isinstance(owner, dict):
        if value is _ABSENT:
            owner.pop(name, None)
        else:
            owner[name] = value
    elif value is _ABSENT:
        delattr(owner, name)
    else:
        setattr(owner, name, value)


def reset() -> None:
    JOB_RESULTS.clear()
    TARGET_HEALTH.clear()


def forget_targets() -> None:
    """Deregister the targets that were the sandbox's ECS tasks (their loopback addresses): after a restart, those
    tasks have ended. Targets registered otherwise stay."""
    for accounts in list(elbv2_backends.values()):
        for backend in list(accounts.values()):
            for group in backend.target_groups.values():
                group.deregister([{"Id": target_id} for target_id in list(group.targets) if _loopback(target_id)])
    TARGET_HEALTH.clear()


def _loopback(target_id: str) -> bool:
    try:
        return ipaddress.ip_address(target_id).is_loopback
    except ValueError:
        return False


def set_target_health(target_group_arn: str, target_id: str, state: str, reason: str | None = None,
                      description: str | None = None) -> None:
    TARGET_HEALTH[(target_group_arn, target_id)] = (state, reason, description)


def settle_service(cluster: str, service_name: str, account_id: str = "123456789012",
                   region: str = "us-east-1", running: int | None = None) -> None:
    """Make a service look as ECS reports it once its deployment finished: one PRIMARY, all running."""
    backend = ecs_backends[account_id][region]
    cluster_name = cluster.split("/")[-1]
    service = backend.services[f"{cluster_name}:{service_name}"]
    count = service.desired_count if running is None else running
    service.running_count = count
    service.pending_count = max(service.desired_count - count, 0)
    deployment = service.deployments[0] if service.deployments else {}
    deployment.update({"status": "PRIMARY", "taskDefinition": service.task_definition, "runningCount": count,
                       "desiredCount": service.desired_count, "pendingCount": service.pending_count,
                       "rolloutState": "COMPLETED" if count >= service.desired_count else "IN_PROGRESS",
                       "updatedAt": utcnow()})
    service.deployments = [deployment]


# CodePipeline


class InvalidJobStateException(JsonRESTError):
    def __init__(self, job_id: str) -> None:
        super().__init__("InvalidJobStateException", f"Job {job_id} is already in a final state")


@_patch("codepipeline_job_results")
def _codepipeline_job_results() -> list[Replacement]:
    """CodePipeline: PutJobSuccessResult / PutJobFailureResult are not implemented; here they record the result
    per job id (in `JOB_RESULTS`, for tests and the sandbox) and refuse a second result for the same job
    (InvalidJobStateException), as CodePipeline does."""
    return [Replacement(CodePipelineResponse, "put_job_success_result", _put_job_success_result),
            Replacement(CodePipelineResponse, "put_job_failure_result", _put_job_failure_result)]


def _record_job_result(job_id: str, result: dict[str, Any]) -> str:
    with _write_lock:  # as CodePipeline: a job's first result is final, a second one is refused
        if job_id in JOB_RESULTS:
            raise InvalidJobStateException(job_id)
        JOB_RESULTS[job_id] = result
    return json.dumps({})


def _put_job_success_result(self: CodePipelineResponse) -> str:
    return _record_job_result(self._get_param("jobId"), {"status": "Succeeded",
                                                         "executionDetails": self._get_param("executionDetails")})


def _put_job_failure_result(self: CodePipelineResponse) -> str:
    return _record_job_result(self._get_param("jobId"), {"status": "Failed",
                                                         "failureDetails": self._get_param("failureDetails")})


# Step Functions


@_patch("send_task_failure_cause")
def _send_task_failure_cause() -> list[Replacement]:
    """Step Functions: SendTaskFailure drops the `cause`; here it is passed on, as AWS does."""
    return [Replacement(StepFunctionResponse, "send_task_failure", _send_task_failure)]


def _send_task_failure(self: StepFunctionResponse) -> ActionResult:
    self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                cause=self._get_param("cause"))  # type: ignore[call-arg]
    return EmptyResult()


@_patch("redrive_execution")
def _redrive_execution() -> list[Replacement]:
    """Step Functions: RedriveExecution is not implemented; here a FAILED, ABORTED or TIMED_OUT execution
    continues, under the same ARN, from the state it was in when it ended (the last state entered), with that
    state's input; its history keeps the earlier events. ($$.Execution.Input then reads that input.)"""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.evaluation_details import (
        EvaluationDetails,
        ExecutionDetails,
        StateMachineDetails,
    )
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    class ExecutionNotRedrivable(AWSError):
        TYPE = "ExecutionNotRedrivable"

    def redrive_execution(self: StepFunctionResponse) -> ActionResult:
        found = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        execution: Any = found  # moto's parser Execution, given attributes of its own below
        if not isinstance(found, Execution) or execution.exec_status not in (
                ExecutionStatus.FAILED, ExecutionStatus.ABORTED, ExecutionStatus.TIMED_OUT):
            raise ExecutionNotRedrivable(f"Execution is {execution.status} and cannot be redriven.")
        before = execution.to_history_output()["events"]
        last = next(e["stateEnteredEventDetails"] for e in reversed(before) if e["type"].endswith("StateEntered"))
        definition = json.loads(execution.state_machine.definition)
        machine = StateMachineDetails(arn=execution.state_machine.arn, name=execution.state_machine.name,
                                      typ=execution.state_machine.sm_type,
                                      definition=json.dumps({**definition, "StartAt": last["name"]}))
        details = ExecutionDetails(arn=execution.exec_arn, name=execution.name, role_arn=execution.role_arn,
                                   inpt=json.loads(last["input"]), start_time=execution.start_date)
        execution.history_before_redrive = before
        execution.redrive_count = getattr(execution, "redrive_count", 0) + 1
        execution.exec_worker = ExecutionWorker(
            evaluation_details=EvaluationDetails(execution._get_start_aws_execution_details(), details, machine),
            exec_comm=BaseExecutionWorkerCommunication(execution),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store)
        execution.exec_status, execution.error, execution.cause, execution.stop_date = (
            ExecutionStatus.RUNNING, None, None, None)
        execution.exec_worker.start()
        return ActionResult({"redriveDate": utcnow()})

    history = Execution.to_history_output

    def with_earlier_events(self: Any) -> Any:
        output = history(self)
        before = getattr(self, "history_before_redrive", [])
        if before:
            offset = max(e["id"] for e in before)
            output["events"] = before + [{**e, "id": e["id"] + offset,
                                          "previousEventId": e.get("previousEventId", 0) + offset}
                                         for e in output["events"]]
        return output

    return [Replacement(StepFunctionResponse, "redrive_execution", redrive_execution),
            Replacement(Execution, "to_history_output", with_earlier_events)]


# CloudFormation: template evaluation


@_patch("fn_cidr")
def _fn_cidr() -> list[Replacement]:
    """CloudFormation: `Fn::Cidr` is not evaluated; here it is."""
    original = cfn_parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and set(resource_json) == {"Fn::Cidr"}:
            block, count, bits = (clean_json(v, resources_map) for v in resource_json["Fn::Cidr"])
            network = ipaddress.ip_network(block, strict=False)
            subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
            return [str(next(subnets)) for _ in range(int(count))]
        return original(resource_json, resources_map)

    return [Replacement(cfn_parsing, "clean_json", clean_json)]


@_patch("false_condition_left_alone")
def _false_condition_left_alone() -> list[Replacement]:
    """CloudFormation: an update tries to modify a resource whose Condition is false when its properties changed
    (and fails on it); here such a resource is left alone, as it was never created."""
    update = cfn_parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any,
                                  account_id: str, region_name: str) -> Any:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        return update(logical_id, resource_json, resources_map, account_id, region_name)

    return [Replacement(cfn_parsing, "parse_and_update_resource", parse_and_update_resource)]


@_patch("nested_stack_outputs")
def _nested_stack_outputs() -> list[Replacement]:
    """CloudFormation: `!GetAtt Nested.Outputs.Name` on a nested stack is not supported (an output that uses it
    is silently left out); here it is."""
    return [Replacement(Stack, "get_cfn_attribute", _nested_stack_output)]


def _nested_stack_output(self: Stack, attribute: str) -> Any:
    if attribute.startswith("Outputs."):
        key = attribute.split(".", 1)[1]
        for output in self.outputs or []:
            if output["OutputKey"] == key:
                return output["OutputValue"]
    raise KeyError(f"stack {self.name} has no attribute {attribute}")


# CloudFormation: change sets


@_patch("change_set_names_per_stack")
def _change_set_names_per_stack() -> list[Replacement]:
    """CloudFormation: DescribeChangeSet, ExecuteChangeSet and DeleteChangeSet find a change set by name across
    every stack (describe and execute take the last one of that name, delete the first); here the name is
    looked up in the given stack, as AWS scopes change set names, so that two stacks deployed in the same
    second do not swap change sets."""
    from moto.cloudformation.responses import CloudFormationResponse

    def describe(self: CloudFormationResponse) -> ActionResult:
        return ActionResult(self.cloudformation_backend.describe_change_set(change_set_name=_change_set_id(self)))

    def execute(self: CloudFormationResponse) -> EmptyResult:
        self.cloudformation_backend.execute_change_set(stack_name=self._get_param("StackName"),
                                                       change_set_name=_change_set_id(self))
        return EmptyResult()

    def delete(self: CloudFormationResponse) -> EmptyResult:
        self.cloudformation_backend.delete_change_set(change_set_name=_change_set_id(self))
        return EmptyResult()

    return [Replacement(CloudFormationResponse, "describe_change_set", describe),
            Replacement(CloudFormationResponse, "execute_change_set", execute),
            Replacement(CloudFormationResponse, "delete_change_set", delete)]


def _change_set_id(response: Any) -> str:
    name, stack = response._get_param("ChangeSetName"), response._get_param("StackName")
    backend = response.cloudformation_backend
    if name in backend.change_sets or not stack:
        return str(name)
    for identifier, change_set in reversed(list(backend.change_sets.items())):  # the latest, as moto
        if change_set.change_set_name == name and stack in (change_set.stack_name, change_set.stack_id):
            return str(identifier)
    return str(name)  # moto then answers that it does not exist


@_patch("change_set_outputs")
def _change_set_outputs() -> list[Replacement]:
    """CloudFormation: a stack created or updated through a change set gets no outputs; here it does."""
    apply = ChangeSet.apply

    def apply_with_outputs(self: ChangeSet) -> None:
        apply(self)
        self.stack.template = self.template
        self.stack.template_dict = self.template_dict
        self.stack.output_map = self.stack._create_output_map()

    return [Replacement(ChangeSet, "apply", apply_with_outputs)]


@_patch("service_follows_task_definition")
def _service_follows_task_definition() -> list[Replacement]:
    """CloudFormation: a service whose `TaskDefinition: !Ref X` now names a new revision is not updated by a
    change set or an UpdateStack (moto compares the unresolved template); here it is, as CloudFormation would."""
    apply, update = ChangeSet.apply, Stack.update

    def apply_following(self: ChangeSet) -> None:
        apply(self)
        _follow_task_definitions(self.stack, self.template_dict)

    def update_following(self: Stack, *args: Any, **kwargs: Any) -> None:
        update(self, *args, **kwargs)
        _follow_task_definitions(self, self.template_dict)

    return [Replacement(ChangeSet, "apply", apply_following), Replacement(Stack, "update", update_following)]


def _follow_task_definitions(stack: Stack, template: dict[str, Any]) -> None:
    backend = ecs_backends[stack.account_id][stack.region_name]
    for logical, resource in template.get("Resources", {}).items():
        reference = resource.get("Properties", {}).get("TaskDefinition")
        if resource.get("Type") != "AWS::ECS::Service" or not isinstance(reference, dict) or "Ref" not in reference:
            continue
        service: Any = stack.resource_map[logical]
        task_definition: Any = stack.resource_map[reference["Ref"]]
        if service.task_definition != task_definition.arn:
            backend.update_service({"cluster": service.cluster_name, "service": service.name,
                                    "task_definition": task_definition.arn})


# CloudFormation: resource types


@_patch("nested_stack_update_in_place")
def _nested_stack_update_in_place() -> list[Replacement]:
    """CloudFormation: updating a nested stack deletes it and creates it again (so a parameter change of the
    load balancer's stack failed on target group names already taken); here it is updated in place, as
    CloudFormation does."""
    return [Replacement(Stack, "update_from_cloudformation_json", classmethod(_update_nested_stack))]


def _update_nested_stack(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                         account_id: str, region_name: str) -> Any:
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    properties = cloudformation_json["Properties"]
    template = get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id,
                                     partition=get_partition(region_name))
    original_resource.update(template, parameters=properties.get("Parameters", {}))
    return original_resource


@_patch("task_definition_update_keeps_containers")
def _task_definition_update_keeps_containers() -> list[Replacement]:
    """CloudFormation: an updated AWS::ECS::TaskDefinition loses its container definitions (moto drops their
    PascalCase keys: no name, no image); here they are kept."""
    from moto.core.utils import pascal_to_camelcase, remap_nested_keys
    from moto.ecs.models import TaskDefinition

    update = TaskDefinition.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update_remapped(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                        account_id: str, region_name: str) -> Any:
        properties = dict(cloudformation_json["Properties"])
        properties["ContainerDefinitions"] = remap_nested_keys(properties.get("ContainerDefinitions", []),
                                                               pascal_to_camelcase)
        return update(cls, original_resource, new_resource_name, {**cloudformation_json, "Properties": properties},
                      account_id, region_name)

    return [Replacement(TaskDefinition, "update_from_cloudformation_json", classmethod(update_remapped))]


@_patch("service_load_balancers")
def _service_load_balancers() -> list[Replacement]:
    """CloudFormation: AWS::ECS::Service drops `LoadBalancers`, `LaunchType` and `NetworkConfiguration`; here
    they are kept, on create and on update."""
    create = EcsService.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = EcsService.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_keeping(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                       **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        name = properties.get("ServiceName", resource_name)
        return _keep_service_properties(create(cls, name, cloudformation_json, account_id, region_name, **kwargs),
                                        properties)

    def update_keeping(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                       account_id: str, region_name: str) -> Any:
        service = update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        return _keep_service_properties(service, cloudformation_json["Properties"])

    return [Replacement(EcsService, "create_from_cloudformation_json", classmethod(create_keeping)),
            Replacement(EcsService, "update_from_cloudformation_json", classmethod(update_keeping))]


def _keep_service_properties(service: Any, properties: dict[str, Any]) -> Any:
    service.load_balancers = [
        {"targetGroupArn": lb["TargetGroupArn"], "containerName": lb.get("ContainerName"),
         "containerPort": int(lb["ContainerPort"]) if lb.get("ContainerPort") else None}
        for lb in properties.get("LoadBalancers") or []]
    if properties.get("LaunchType"):
        service.launch_type = properties["LaunchType"]
    if properties.get("NetworkConfiguration"):
        vpc = properties["NetworkConfiguration"].get("AwsvpcConfiguration", {})
        service.network_configuration = {"awsvpcConfiguration": {
            "subnets": vpc.get("Subnets", []), "securityGroups": vpc.get("SecurityGroups", []),
            "assignPublicIp": vpc.get("AssignPublicIp", "DISABLED")}}
    return service


@_patch("target_group_tags")
def _target_group_tags() -> list[Replacement]:
    """CloudFormation: AWS::ElasticLoadBalancingV2::TargetGroup drops `Tags`; here they are kept."""
    create = FakeTargetGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_with_tags(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str,
                         region_name: str, **kwargs: Any) -> Any:
        group = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        tags = cloudformation_json["Properties"].get("Tags") or []
        if tags:
            backend = elbv2_backends[account_id][region_name]
            backend.add_tags([group.arn], [{"Key": t["Key"], "Value": str(t["Value"])} for t in tags])
        return group

    return [Replacement(FakeTargetGroup, "create_from_cloudformation_json", classmethod(create_with_tags))]


@_patch("target_group_update")
def _target_group_update() -> list[Replacement]:
    """CloudFormation: AWS::ElasticLoadBalancingV2::TargetGroup has no update (the stack update succeeds, but
    the group keeps its old tags and health check settings, and the stack's resource becomes None); here they
    are updated in place."""
    return [Replacement(FakeTargetGroup, "update_from_cloudformation_json", classmethod(_update_target_group))]


def _update_target_group(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                         account_id: str, region_name: str) -> Any:
    properties = cloudformation_json["Properties"]
    backend = elbv2_backends[account_id][region_name]
    group = original_resource
    for attribute, key in (("health_check_path", "HealthCheckPath"), ("health_check_port", "HealthCheckPort"),
                           ("health_check_interval_seconds", "HealthCheckIntervalSeconds"),
                           ("health_check_timeout_seconds", "HealthCheckTimeoutSeconds"),
                           ("healthy_threshold_count", "HealthyThresholdCount"),
                           ("unhealthy_threshold_count", "UnhealthyThresholdCount"), ("matcher", "Matcher")):
        if key in properties:
            setattr(group, attribute, properties[key])
    tags = {t["Key"]: str(t["Value"]) for t in properties.get("Tags") or []}
    stale = [key for key in backend.tagging_service.get_tag_dict_for_resource(group.arn) if key not in tags]
    if stale:
        backend.remove_tags([group.arn], stale)
    if tags:
        backend.add_tags([group.arn], [{"Key": k, "Value": v} for k, v in tags.items()])
    return group


@_patch("unchanged_parameters_resolved")
def _unchanged_parameters_resolved() -> list[Replacement]:
    """CloudFormation: a change set compares the parameters as given, so a parameter left at its template
    default and then sent with UsePreviousValue counts as a change; and it compares them with those the stack
    was created with, so after an update by change set the same values count as a change. Here, as on AWS,
    the resolved values are compared with those the stack runs with now, and such an update has no changes."""

    def has_parameters(self: Stack, other: dict[str, Any]) -> bool:
        declared = self.template_dict.get("Parameters", {})
        defaults = {key: str(spec["Default"]) for key, spec in declared.items() if "Default" in spec}
        current = {key: value for key, value in self.resource_map.input_parameters.items() if key in declared}
        resolved = {**defaults, **{key: str(value) for key, value in current.items()}}
        return resolved == {**defaults, **{key: str(value) for key, value in other.items()}}

    return [Replacement(Stack, "has_parameters", has_parameters)]


@_patch("state_machine_resource")
def _state_machine_resource() -> list[Replacement]:
    """CloudFormation: AWS::StepFunctions::StateMachine reads only DefinitionString, ignores
    DefinitionSubstitutions and lands in the backend that does not execute; here it takes `Definition`,
    applies the substitutions, and lands where StartExecution looks."""
    return [Replacement(StateMachine, "create_from_cloudformation_json", classmethod(_create_state_machine)),
            Replacement(StateMachine, "delete_from_cloudformation_json", classmethod(_delete_state_machine)),
            Replacement(StateMachine, "update_from_cloudformation_json", classmethod(_update_state_machine))]


def _state_machine_backend(account_id: str, region: str) -> Any:
    from moto.core.config import default_user_config
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    if default_user_config.get("stepfunctions", {}).get("execute_state_machine", False):
        return stepfunctions_parser_backends[account_id][region]
    return stepfunctions_backends[account_id][region]


def _definition(properties: dict[str, Any]) -> str:
    text = properties.get("DefinitionString") or json.dumps(properties.get("Definition", {}))
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + name + "}", str(value))
    return text


def _create_state_machine(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str,
                          region_name: str, **kwargs: Any) -> Any:
    properties = cloudformation_json["Properties"]
    backend = _state_machine_backend(account_id, region_name)
    tags = [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])]
    return backend.create_state_machine(properties.get("StateMachineName", resource_name), _definition(properties),
                                        properties.get("RoleArn", ""), tags=tags or None)


def _delete_state_machine(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                          region_name: str) -> None:
    backend = _state_machine_backend(account_id, region_name)
    for machine in list(backend.state_machines):
        if machine.arn == resource_name or machine.name == resource_name:
            backend.delete_state_machine(machine.arn)


def _update_state_machine(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                          account_id: str, region_name: str) -> Any:
    properties = cloudformation_json.get("Properties", {})
    backend = _state_machine_backend(account_id, region_name)
    backend.update_state_machine(original_resource.arn, definition=_definition(properties),
                                 role_arn=properties.get("RoleArn"))
    return original_resource


@_patch("pipeline_resources")
def _pipeline_resources() -> list[Replacement]:
    """CloudFormation: AWS::CodePipeline::Pipeline and AWS::CodeBuild::Project are skipped (a warning, the stack
    completes, nothing is created); here they are created, updated and deleted in moto's CodePipeline and
    CodeBuild backends, with their properties in the shape GetPipeline and BatchGetProjects answer with (and the
    project's EncryptionKey, which moto replaces by its default key). `Ref` gives the name, `Fn::GetAtt` a
    project's Arn and a pipeline's Version."""
    return [Replacement(cfn_parsing, "get_model_map",
                        _with_models(cfn_parsing.get_model_map, (CodePipeline, CodeBuild))),
            *_resource_class(CodePipeline, "AWS::CodePipeline::Pipeline", _create_pipeline, _update_pipeline,
                             _delete_pipeline, {"Version": lambda pipeline: str(pipeline.pipeline["version"])}),
            *_resource_class(CodeBuild, "AWS::CodeBuild::Project", _create_project, _update_project,
                             _delete_project, {"Arn": lambda project: project.arn})]


@_patch("sns_subscriptions")
def _sns_subscriptions() -> list[Replacement]:
    """CloudFormation: AWS::SNS::Subscription is skipped (a warning, the stack completes, nobody is subscribed);
    here it subscribes the endpoint in moto's SNS, with its FilterPolicy (and FilterPolicyScope) set as
    SetSubscriptionAttributes sets them, and unsubscribes it on delete. `Ref` gives the subscription's ARN."""
    from moto.sns.models import Subscription

    return [Replacement(cfn_parsing, "get_model_map", _with_models(cfn_parsing.get_model_map, (Subscription,))),
            *_resource_class(Subscription, "AWS::SNS::Subscription", _create_subscription, _update_subscription,
                             _delete_subscription, {})]


def _create_subscription(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str,
                         region_name: str, **kwargs: Any) -> Any:
    from moto.sns.models import sns_backends

    properties = cloudformation_json["Properties"]
    backend = sns_backends[account_id][region_name]
    subscription: Any = backend.subscribe(properties["TopicArn"], properties["Endpoint"], properties["Protocol"])
    for name in ("FilterPolicyScope", "FilterPolicy", "RawMessageDelivery"):  # the scope first: the policy reads it
        if name in properties:
            value = properties[name]
            backend.set_subscription_attributes(subscription.arn, name,
                                                json.dumps(value) if isinstance(value, dict) else _string(value))
    subscription.physical_resource_id = subscription.arn  # what `Ref` gives
    return subscription


def _update_subscription(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                         account_id: str, region_name: str) -> Any:
    _delete_subscription(cls, original_resource.arn, cloudformation_json, account_id, region_name)
    return _create_subscription(cls, new_resource_name, cloudformation_json, account_id, region_name)


def _delete_subscription(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                         region_name: str) -> None:
    from moto.sns.models import sns_backends

    sns_backends[account_id][region_name].unsubscribe(resource_name)


def _with_models(model_map: Callable[[], dict[str, Any]], models: tuple[Any, ...]) -> Callable[[], dict[str, Any]]:
    """Moto's model map with `models` (given cloudformation_type by a patch) added. A wrapper rather than items put
    into moto's cached map: computing that map at install time would fix its list of models before every moto model
    module is imported."""
    def get_model_map() -> dict[str, Any]:
        return {**model_map(), **{model.cloudformation_type(): model for model in models}}

    return get_model_map


def _resource_class(model: type, kind: str, create: Callable[..., Any], update: Callable[..., Any],
                    delete: Callable[..., None], attributes: dict[str, Callable[[Any], str]]) -> list[Replacement]:
    """What moto's CloudFormation calls on a resource class (CloudFormationModel's methods), for a plain model."""
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    def cloudformation_type() -> str:
        return kind

    def has_cfn_attr(cls: Any, attribute: str) -> bool:
        return attribute in attributes

    def get_cfn_attribute(self: Any, attribute: str) -> str:
        if attribute not in attributes:
            raise UnformattedGetAttTemplateException()
        return attributes[attribute](self)

    def is_created(self: Any) -> bool:
        return True

    return [Replacement(model, "cloudformation_type", staticmethod(cloudformation_type)),
            Replacement(model, "has_cfn_attr", classmethod(has_cfn_attr)),
            Replacement(model, "get_cfn_attribute", get_cfn_attribute),
            Replacement(model, "is_created", is_created),
            Replacement(model, "create_from_cloudformation_json", classmethod(create)),
            Replacement(model, "update_from_cloudformation_json", classmethod(update)),
            Replacement(model, "delete_from_cloudformation_json", classmethod(delete))]


_API_NAMES = {"BuildSpec": "buildspec"}  # the one property whose API name is not its camelCase


def _api_shape(value: Any) -> Any:
    """CloudFormation's PascalCase properties as the API's camelCase members; an action's (or a rule's)
    `Configuration` keeps its keys, which the API has as given, and its values become strings, as in the API."""
    if isinstance(value, list):
        return [_api_shape(item) for item in value]
    if isinstance(value, dict):
        return {_API_NAMES.get(key, pascal_to_camelcase(key)):
                {name: _string(setting) for name, setting in item.items()} if key == "Configuration"
                else _api_shape(item) for key, item in value.items()}
    return value


def _string(value: Any) -> str:
    # As CloudFormation passes them on: a Number parameter arrives here as an int, a YAML boolean as a bool.
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _api_tags(properties: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": tag["Key"], "value": str(tag["Value"])} for tag in properties.get("Tags") or []]


def _pipeline_declaration(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    declared = ("RoleArn", "ArtifactStore", "Stages", "ExecutionMode", "PipelineType", "Triggers", "Variables")
    pipeline: dict[str, Any] = {"name": name, **_api_shape({k: properties[k] for k in declared if k in properties})}
    for stage in pipeline.get("stages", []):
        stage.pop("blockers", None)  # CloudFormation only: the API has no such member
    if properties.get("ArtifactStores"):  # a list of {Region, ArtifactStore} here, a map by region in the API
        pipeline["artifactStores"] = {store["Region"]: _api_shape(store["ArtifactStore"])
                                      for store in properties["ArtifactStores"]}
    return pipeline


def _create_pipeline(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                     **kwargs: Any) -> Any:
    # Through create_pipeline, which checks as CodePipeline does that the role exists and trusts
    # codepipeline.amazonaws.com (it reads only the statements' principals, so a Condition does not matter).
    properties = cloudformation_json["Properties"]
    backend = codepipeline_backends[account_id][region_name]
    name = properties.get("Name", resource_name)
    backend.create_pipeline(_pipeline_declaration(name, properties), _api_tags(properties))
    pipeline: Any = backend.pipelines[name]
    pipeline.physical_resource_id = name  # what `Ref` gives
    return pipeline


def _update_pipeline(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                     account_id: str, region_name: str) -> Any:
    properties = cloudformation_json["Properties"]
    name = properties.get("Name") or original_resource.physical_resource_id  # else a new name on every update
    if name != original_resource.physical_resource_id:  # a new name replaces the pipeline
        _delete_pipeline(cls, original_resource.physical_resource_id, cloudformation_json, account_id, region_name)
        return _create_pipeline(cls, name, cloudformation_json, account_id, region_name)
    codepipeline_backends[account_id][region_name].update_pipeline(_pipeline_declaration(name, properties))
    original_resource.tags = {tag["key"]: tag["value"] for tag in _api_tags(properties)}
    return original_resource


def _delete_pipeline(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                     region_name: str) -> None:
    codepipeline_backends[account_id][region_name].delete_pipeline(resource_name)


def _create_project(cls: Any, /, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                    **kwargs: Any) -> Any:
    properties = cloudformation_json["Properties"]
    backend = codebuild_backends[account_id][region_name]
    name = properties.get("Name", resource_name)
    environment = _api_shape(properties.get("Environment", {}))
    if "environmentVariables" in environment:  # Type is optional in the template, always answered by the API
        environment["environmentVariables"] = [{"type": "PLAINTEXT", **variable, "value": _string(variable["value"])}
                                               for variable in environment["environmentVariables"]]
    timeout, queued = properties.get("TimeoutInMinutes"), properties.get("QueuedTimeoutInMinutes")
    backend.create_project(
        project_name=name, description=properties.get("Description"),
        project_source=_api_shape(properties.get("Source", {})), artifacts=_api_shape(properties.get("Artifacts", {})),
        environment=environment, service_role=properties["ServiceRole"], tags=_api_tags(properties) or None,
        cache=_api_shape(properties.get("Cache")), timeout=int(timeout) if timeout else None,
        queued_timeout=int(queued) if queued else None, source_version=properties.get("SourceVersion"),
        logs_config=_api_shape(properties.get("LogsConfig")), vpc_config=_api_shape(properties.get("VpcConfig")))
    project: Any = backend.codebuild_projects[name]
    if properties.get("EncryptionKey"):  # moto sets its default key whatever the project was given
        project.project_metadata["encryptionKey"] = properties["EncryptionKey"]
    project.physical_resource_id = name  # what `Ref` gives
    return project


def _update_project(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                    account_id: str, region_name: str) -> Any:
    # moto has no UpdateProject: the project is made again under its name, keeping its builds and creation date.
    backend = codebuild_backends[account_id][region_name]
    old = original_resource.physical_resource_id
    name = cloudformation_json["Properties"].get("Name") or old  # else a new name on every update
    if name != old:  # a new name replaces the project
        _delete_project(cls, old, cloudformation_json, account_id, region_name)
        return _create_project(cls, name, cloudformation_json, account_id, region_name)
    builds = backend.build_history.get(name, [])
    project = _create_project(cls, name, cloudformation_json, account_id, region_name)
    backend.build_history[name] = builds
    project.project_metadata["created"] = original_resource.project_metadata["created"]
    return project


def _delete_project(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                    region_name: str) -> None:
    codebuild_backends[account_id][region_name].delete_project(resource_name)


# ELBv2


@_patch("target_health")
def _target_health() -> list[Replacement]:
    """ELBv2: DescribeTargetHealth reports every registered target healthy and has no API to change that; here
    a target's state can be set (`set_target_health`, by a test or by the sandbox's health checker)."""
    original = FakeTargetGroup.health_for

    def health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
        status = original(self, target, ec2_backend)
        override = TARGET_HEALTH.get((self.arn, target["Id"]))
        if override is not None and target["Id"] in self.targets:
            state, reason, description = override
            return FakeHealthStatus(status.instance_id, status.port, status.health_check_port, state, reason,
                                    description)
        return status

    return [Replacement(FakeTargetGroup, "health_for", health_for)]


LOOPBACK = "127.0.0.1"


@_patch("loopback_load_balancers", default=False)
def _loopback_load_balancers() -> list[Replacement]:
    """Sandbox only (not a gap): a load balancer's DNS name is an AWS name that resolves nowhere here; the
    sandbox's load balancers answer on loopback (see `sandbox.loadbalancer`), so that is their DNS name."""
    from moto.elbv2.models import ELBv2Backend

    create = ELBv2Backend.create_load_balancer

    def create_on_loopback(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        load_balancer = create(self, *args, **kwargs)
        load_balancer.dns_name = LOOPBACK
        return load_balancer

    return [Replacement(ELBv2Backend, "create_load_balancer", create_on_loopback)]


def use_loopback_load_balancers() -> None:
    """Sandbox only: see `_loopback_load_balancers`."""
    with _lock:
        _apply(PATCHES["loopback_load_balancers"])


# DynamoDB


@_patch("dynamodb_serialised_writes")
def _dynamodb_serialised_writes() -> list[Replacement]:
    """DynamoDB: a conditional write is not atomic when requests arrive concurrently (moto checks, then writes,
    without a lock); here writes to one backend are serialised, as DynamoDB's are per item."""
    # The request handlers too: UpdateItem deep-copies the stored item before the backend call, and a concurrent
    # write changing that item mid-copy fails with "dictionary changed size during iteration".
    from moto.dynamodb.responses import DynamoHandler

    names = ("put_item", "update_item", "delete_item", "transact_write_items")
    return [Replacement(owner, name, _serialised(getattr(owner, name)))
            for owner in (DynamoDBBackend, DynamoHandler) for name in names]


def _serialised(method: Any) -> Any:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _write_lock:
            return method(*args, **kwargs)

    return locked


# IAM and S3: a TLS-only bucket policy (Deny when aws:SecureTransport is false) needs all three below.


@_patch("iam_deny_condition")
def _iam_deny_condition() -> list[Replacement]:
    """IAM: a Deny statement whose condition does not match still denies (moto denies whenever a condition
    fails); here it does not apply, as on AWS."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    permitted = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self: IAMPolicyStatement, action: str, resource: str = "*", principal: str | None = None,
                            incoming_condition_values: dict[str, str] | None = None) -> PermissionResult:
        if self._statement.get("Effect") == "Deny" and self._statement.get("Condition") and \
                not self._check_conditions(incoming_condition_values):
            return PermissionResult.NEUTRAL
        return permitted(self, action, resource, principal, incoming_condition_values)

    return [Replacement(IAMPolicyStatement, "is_action_permitted", is_action_permitted)]


@_patch("iam_bool_condition")
def _iam_bool_condition() -> list[Replacement]:
    """IAM: condition operators other than StringEquals are ignored (the condition counts as met); here `Bool`
    is evaluated."""
    from moto.iam import policy_conditions

    return [Replacement(policy_conditions.CONDITION_OPERATIONS, "Bool", _bool_operation)]


def _bool_operation(expected_value: list[str] | str, actual_value: str) -> bool:
    expected = expected_value if isinstance(expected_value, list) else [expected_value]
    return str(actual_value).lower() in [str(e).lower() for e in expected]


@_patch("s3_secure_transport")
def _s3_secure_transport() -> list[Replacement]:
    """S3: a bucket policy's `aws:SecureTransport` gets no value; here in-process requests count as TLS
    (botocore sends them to https endpoints; the sandbox's plain-HTTP endpoint never gets such a policy)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return IAMPolicy(self.policy.decode()).is_action_permitted(
            action, resource, incoming_condition_values={"aws:SecureTransport": "true"})

    return [Replacement(FakeBucket, "get_permission", get_permission)]


# ECS: stopped tasks, as the sandbox's scheduler records them


def stopped_task(backend: Any, cluster: Any, definition: Any, service: Any, reason: str,
                 exit_code: int | None) -> str:
    """A STOPPED task of `service` in moto's ECS, with ECS's stopped reason and its essential container's exit
    code and reason (the sandbox's tasks are local processes moto never sees); its ARN."""
    from moto.ecs.models import Task as EcsTask

    network = service.network_configuration if definition.network_mode == "awsvpc" else None
    task = EcsTask(cluster, definition, None, None, backend, group=f"service:{service.name}",
                   launch_type="FARGATE", started_by=f"ecs-svc/{abs(hash(service.arn)) % 10**12}",
                   networking_configuration=network)
    task.desired_status = task.last_status = "STOPPED"
    task.stopped_reason = reason
    task.stopped_at = utcnow()  # type: ignore[attr-defined]
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = exit_code  # type: ignore[assignment]  # None: it never started
        container.reason = reason if "CannotPull" in reason else None  # type: ignore[attr-defined]
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    return str(task.task_arn)


@_patch("list_tasks_by_service")
def _list_tasks_by_service() -> list[Replacement]:
    """ECS: ListTasks ignores `serviceName` (moto starts no task for a service); here it lists the service's tasks,
    those whose group is service:NAME as ECS sets it."""
    from moto.ecs.models import EC2ContainerServiceBackend

    original = EC2ContainerServiceBackend.list_tasks

    def list_tasks(self: Any, cluster_str: str | None = None, container_instance: str | None = None,
                   family: str | None = None, started_by: str | None = None, service_name: str | None = None,
                   desiredStatus: str | None = None) -> list[Any]:
        found = original(self, cluster_str, container_instance, family, started_by, None, desiredStatus)
        if service_name:
            name = service_name.split("/")[-1]
            found = [t for t in found if t.group == f"service:{name}"]
        return list(found)

    return [Replacement(EC2ContainerServiceBackend, "list_tasks", list_tasks)]


# CloudWatch


@_patch("metric_percentiles")
def _metric_percentiles() -> list[Replacement]:
    """CloudWatch: GetMetricData and GetMetricStatistics answer only Sum, Average, Minimum, Maximum and
    SampleCount; a percentile statistic (p90) gets nothing. Here pNN is the nearest-rank percentile of the values
    put in the period, as CloudWatch computes it over raw values."""
    from moto.cloudwatch.models import Statistics

    original = Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Statistics, stat: str) -> Any:
        if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
            values = sorted(self.metric_single_values_list)
            if not values:
                return None
            rank = max(1, math.ceil(float(stat[1:]) / 100 * len(values)))
            return values[rank - 1]
        return original(self, stat)

    return [Replacement(Statistics, "get_statistics_for_type", get_statistics_for_type)]
