"""What moto lacks for this product, added to moto (never worked around in the product).

- CodePipeline: PutJobSuccessResult / PutJobFailureResult are not implemented; here they record
  the result per job id so that tests and the sandbox can read what the engine reported.
- ELBv2: DescribeTargetHealth reports every registered target healthy and has no API to change
  that; here a target's state can be set (by a test, or by the sandbox's health checker).
- Step Functions: SendTaskFailure drops the `cause`; here it is passed on, as AWS does.
- DynamoDB: a conditional write is not atomic when requests arrive concurrently (moto checks,
  then writes, without a lock); here writes to one backend are serialised, as DynamoDB's are per item.
- ECS: services never reach steady state (no task runs); `settle_service` makes a service's
  deployment complete, as ECS would once its tasks are running.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.codepipeline.responses import CodePipelineResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.dynamodb.models import DynamoDBBackend
from moto.ecs.models import ecs_backends
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup
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


def _put_job_success_result(self: CodePipelineResponse) -> str:
    JOB_RESULTS[self._get_param("jobId")] = {"status": "Succeeded",
                                             "executionDetails": self._get_param("executionDetails")}
    return json.dumps({})


def _put_job_failure_result(self: CodePipelineResponse) -> str:
    JOB_RESULTS[self._get_param("jobId")] = {"status": "Failed", "failureDetails": self._get_param("failureDetails")}
    return json.dumps({})


def _send_task_failure(self: StepFunctionResponse) -> ActionResult:
    self.stepfunction_backend.send_task_failure(self._get_param("taskToken"), error=self._get_param("error"),
                                                cause=self._get_param("cause"))  # type: ignore[call-arg]
    return EmptyResult()
