"""What moto lacks for this product, added to moto (never worked around in the product).

- CodePipeline: PutJobSuccessResult / PutJobFailureResult are not implemented; here they record
  the result per job id so that tests and the sandbox can read what the engine reported, and refuse a
  second result for the same job (InvalidJobStateException), as CodePipeline does.
- ELBv2: DescribeTargetHealth reports every registered target healthy and has no API to change
  that; here a target's state can be set (by a test, or by the sandbox's health checker).
- S3/IAM: policy conditions other than StringEquals are ignored (so `Bool`'s deny always applies), and a
  bucket policy's `aws:SecureTransport` gets no value: a TLS-only policy denies every request. Here
  `Bool` is evaluated, a Deny whose condition does not match does not apply (moto denies), and
  in-process requests count as TLS (botocore sends them to https endpoints; the
  sandbox's plain-HTTP endpoint never gets that policy).
- Step Functions: SendTaskFailure drops the `cause`; here it is passed on, as AWS does.
- Step Functions: RedriveExecution is not implemented; here a FAILED, ABORTED or TIMED_OUT execution
  continues, under the same ARN, from the state it was in when it ended (the last state entered), with
  that state's input; its history keeps the earlier events. ($$.Execution.Input then reads that input.)
- DynamoDB: a conditional write is not atomic when requests arrive concurrently (moto checks,
  then writes, without a lock); here writes to one backend are serialised, as DynamoDB's are per item.
- CloudFormation: `Fn::Cidr` is not evaluated; here it is.
- CloudFormation: DescribeChangeSet, ExecuteChangeSet and DeleteChangeSet find a change set by name
  across every stack (the first one of that name); here the name is looked up in the given stack, as
  AWS scopes change set names, so that two stacks deployed in the same second do not swap change sets.
- CloudFormation: a stack created or updated through a change set gets no outputs; here it does.
- CloudFormation: an update tries to modify a resource whose Condition is false (and fails on it);
  here such a resource is left alone, as it was never created.
- CloudFormation: a service whose `TaskDefinition: !Ref X` now names a new revision is not updated
  (moto compares the unresolved template); here it is, as CloudFormation would. And an updated
  AWS::ECS::TaskDefinition keeps its container definitions (moto drops their PascalCase keys).
- CloudFormation: `!GetAtt Nested.Outputs.Name` on a nested stack is not supported; here it is.
- CloudFormation: updating a nested stack deletes it and creates it again (so a parameter change of the
  load balancer's stack failed on target group names already taken); here it is updated in place, as
  CloudFormation does. And AWS::ElasticLoadBalancingV2::TargetGroup has no update (its resource became
  None); here its tags and health check settings are updated in place.
- CloudFormation: AWS::StepFunctions::StateMachine reads only DefinitionString, ignores
  DefinitionSubstitutions and lands in the backend that does not execute; here it takes `Definition`,
  applies the substitutions, and lands where StartExecution looks.
- CloudFormation: AWS::ElasticLoadBalancingV2::TargetGroup drops `Tags`, and AWS::ECS::Service drops
  `LoadBalancers`, `LaunchType` and `NetworkConfiguration`; here they are kept.
- ECS: services never reach steady state (no task runs); `settle_service` makes a service's
  deployment complete, as ECS would once its tasks are running.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.models import ChangeSet, Stack
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.dynamodb.models import DynamoDBBackend
from moto.ecs.models import Service as EcsService
from moto.ecs.models import ecs_backends
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup, elbv2_backends
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.responses import StepFunctionResponse

_lock = threading.Lock()
_installed = False
JOB_RESULTS: dict[str, dict[str, Any]] = {}  # job id -> {"status": "Succeeded"|"Failed", ...}
TARGET_HEALTH: dict[tuple[str, str], tuple[str, str | None, str | None]] = {}  # (tg arn, target id) -> state


def install() -> None:
    """Patch moto once per process; safe to call again."""
    global _installed
    with _lock:
        if _installed:
            return
        CodePipelineResponse.put_job_success_result = _put_job_success_result  # type: ignore[attr-defined]
        CodePipelineResponse.put_job_failure_result = _put_job_failure_result  # type: ignore[attr-defined]
        StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
        _redrive_executions()
        original_clean_json = cfn_parsing.clean_json

        def clean_json(resource_json: Any, resources_map: Any) -> Any:
            if isinstance(resource_json, dict) and set(resource_json) == {"Fn::Cidr"}:
                block, count, bits = (clean_json(v, resources_map) for v in resource_json["Fn::Cidr"])
                network = ipaddress.ip_network(block, strict=False)
                subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
                return [str(next(subnets)) for _ in range(int(count))]
            return original_clean_json(resource_json, resources_map)

        cfn_parsing.clean_json = clean_json
        update_resource = cfn_parsing.parse_and_update_resource

        def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any,
                                      account_id: str, region_name: str) -> Any:
            condition = resource_json.get("Condition")
            if condition and not resources_map.lazy_condition_map[condition]:
                return None
            return update_resource(logical_id, resource_json, resources_map, account_id, region_name)

        cfn_parsing.parse_and_update_resource = parse_and_update_resource
        apply = ChangeSet.apply

        def apply_with_outputs(self: ChangeSet) -> None:
            apply(self)
            self.stack.template = self.template
            self.stack.template_dict = self.template_dict
            self.stack.output_map = self.stack._create_output_map()
            _follow_task_definitions(self.stack)

        ChangeSet.apply = apply_with_outputs  # type: ignore[method-assign]
        Stack.get_cfn_attribute = _nested_stack_output  # type: ignore[attr-defined]
        Stack.update_from_cloudformation_json = classmethod(_update_nested_stack)  # type: ignore[assignment,arg-type]
        FakeTargetGroup.update_from_cloudformation_json = classmethod(_update_target_group)  # type: ignore[assignment,arg-type]
        StateMachine.create_from_cloudformation_json = classmethod(_create_state_machine)  # type: ignore[assignment,arg-type]
        StateMachine.delete_from_cloudformation_json = classmethod(_delete_state_machine)  # type: ignore[assignment,arg-type]
        StateMachine.update_from_cloudformation_json = classmethod(_update_state_machine)  # type: ignore[assignment,arg-type]
        _remap_updated_task_definitions()
        _scope_change_set_names()
        _bucket_policies_see_tls()
        _keep_target_group_tags()
        _keep_service_load_balancers()
        for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
            setattr(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
        original = FakeTargetGroup.health_for

        def health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
            status = original(self, target, ec2_backend)
            override = TARGET_HEALTH.get((self.arn, target["Id"]))
            if override is not None and target["Id"] in self.targets:
                state, reason, description = override
                return FakeHealthStatus(status.instance_id, status.port, status.health_check_port, state, reason,
                                        description)
            return status

        FakeTargetGroup.health_for = health_for  # type: ignore[method-assign]
        _installed = True


_write_lock = threading.RLock()


def _serialised(method: Any) -> Any:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _write_lock:
            return method(*args, **kwargs)

    return locked


def reset() -> None:
    JOB_RESULTS.clear()
    TARGET_HEALTH.clear()


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


class InvalidJobStateException(JsonRESTError):
    def __init__(self, job_id: str) -> None:
        super().__init__("InvalidJobStateException", f"Job {job_id} is already in a final state")


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


def _send_task_failure(self: StepFunctionResponse) -> ActionResult:
    self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                cause=self._get_param("cause"))  # type: ignore[call-arg]
    return EmptyResult()


def _redrive_executions() -> None:
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

    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]
    Execution.to_history_output = with_earlier_events  # type: ignore[method-assign]


def _update_nested_stack(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                         account_id: str, region_name: str) -> Any:
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    properties = cloudformation_json["Properties"]
    template = get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id,
                                     partition=get_partition(region_name))
    original_resource.update(template, parameters=properties.get("Parameters", {}))
    return original_resource


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


def _nested_stack_output(self: Stack, attribute: str) -> Any:
    if attribute.startswith("Outputs."):
        key = attribute.split(".", 1)[1]
        for output in self.outputs or []:
            if output["OutputKey"] == key:
                return output["OutputValue"]
    raise KeyError(f"stack {self.name} has no attribute {attribute}")


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


def _create_state_machine(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
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


def _keep_target_group_tags() -> None:
    create = FakeTargetGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_with_tags(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                         region_name: str, **kwargs: Any) -> Any:
        group = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        tags = cloudformation_json["Properties"].get("Tags") or []
        if tags:
            backend = elbv2_backends[account_id][region_name]
            backend.add_tags([group.arn], [{"Key": t["Key"], "Value": str(t["Value"])} for t in tags])
        return group

    FakeTargetGroup.create_from_cloudformation_json = classmethod(create_with_tags)  # type: ignore[assignment,arg-type]


def _keep_service_load_balancers() -> None:
    create = EcsService.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update = EcsService.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def keep(service: Any, properties: dict[str, Any]) -> Any:
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

    def create_keeping(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
                       **kwargs: Any) -> Any:
        properties = cloudformation_json["Properties"]
        name = properties.get("ServiceName", resource_name)
        return keep(create(cls, name, cloudformation_json, account_id, region_name, **kwargs), properties)

    def update_keeping(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                       account_id: str, region_name: str) -> Any:
        service = update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        return keep(service, cloudformation_json["Properties"])

    EcsService.create_from_cloudformation_json = classmethod(create_keeping)  # type: ignore[assignment,arg-type]
    EcsService.update_from_cloudformation_json = classmethod(update_keeping)  # type: ignore[assignment,arg-type]


def _follow_task_definitions(stack: Stack) -> None:
    backend = ecs_backends[stack.account_id][stack.region_name]
    for logical, resource in stack.template_dict.get("Resources", {}).items():
        reference = resource.get("Properties", {}).get("TaskDefinition")
        if resource.get("Type") != "AWS::ECS::Service" or not isinstance(reference, dict) or "Ref" not in reference:
            continue
        service: Any = stack.resource_map[logical]
        task_definition: Any = stack.resource_map[reference["Ref"]]
        if service.task_definition != task_definition.arn:
            backend.update_service({"cluster": service.cluster_name, "service": service.name,
                                    "task_definition": task_definition.arn})


def _scope_change_set_names() -> None:
    from moto.cloudformation.responses import CloudFormationResponse

    def change_set_id(self: CloudFormationResponse) -> str:
        name, stack = self._get_param("ChangeSetName"), self._get_param("StackName")
        backend = self.cloudformation_backend
        if name in backend.change_sets or not stack:
            return str(name)
        for identifier, change_set in reversed(list(backend.change_sets.items())):  # the latest, as moto
            if change_set.change_set_name == name and stack in (change_set.stack_name, change_set.stack_id):
                return str(identifier)
        return str(name)  # moto then answers that it does not exist

    def describe(self: CloudFormationResponse) -> ActionResult:
        return ActionResult(self.cloudformation_backend.describe_change_set(change_set_name=change_set_id(self)))

    def execute(self: CloudFormationResponse) -> EmptyResult:
        self.cloudformation_backend.execute_change_set(stack_name=self._get_param("StackName"),
                                                       change_set_name=change_set_id(self))
        return EmptyResult()

    def delete(self: CloudFormationResponse) -> EmptyResult:
        self.cloudformation_backend.delete_change_set(change_set_name=change_set_id(self))
        return EmptyResult()

    CloudFormationResponse.describe_change_set = describe  # type: ignore[method-assign]
    CloudFormationResponse.execute_change_set = execute  # type: ignore[method-assign]
    CloudFormationResponse.delete_change_set = delete  # type: ignore[method-assign]


def _remap_updated_task_definitions() -> None:
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

    TaskDefinition.update_from_cloudformation_json = classmethod(update_remapped)  # type: ignore[assignment,arg-type]


def use_loopback_load_balancers(host: str = "127.0.0.1") -> None:
    """Sandbox only: load balancers answer on loopback (see `sandbox.loadbalancer`), so that is their DNS name."""
    from moto.elbv2.models import ELBv2Backend

    create = ELBv2Backend.create_load_balancer

    def create_on_loopback(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        load_balancer = create(self, *args, **kwargs)
        load_balancer.dns_name = host
        return load_balancer

    ELBv2Backend.create_load_balancer = create_on_loopback  # type: ignore[method-assign]


def _bucket_policies_see_tls() -> None:
    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    permitted = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self: IAMPolicyStatement, action: str, resource: str = "*", principal: str | None = None,
                            incoming_condition_values: dict[str, str] | None = None) -> PermissionResult:
        if self._statement.get("Effect") == "Deny" and self._statement.get("Condition") and \
                not self._check_conditions(incoming_condition_values):
            return PermissionResult.NEUTRAL
        return permitted(self, action, resource, principal, incoming_condition_values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]

    def bool_operation(expected_value: list[str] | str, actual_value: str) -> bool:
        expected = expected_value if isinstance(expected_value, list) else [expected_value]
        return str(actual_value).lower() in [str(e).lower() for e in expected]

    policy_conditions.CONDITION_OPERATIONS["Bool"] = bool_operation

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return IAMPolicy(self.policy.decode()).is_action_permitted(
            action, resource, incoming_condition_values={"aws:SecureTransport": "true"})

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
