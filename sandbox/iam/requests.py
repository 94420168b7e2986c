"""What IAM authorizes for each AWS operation the engine's functions call: the action, its resources, its keys.

IAM names most actions after the operation; the resource is the ARN the call acts on as AWS's Service
Authorization Reference defines it, or "*" for an action that supports no resource type (then only a
statement on "*" can allow it). tests/unit/test_iam_policy.py checks this table against that reference and
that every operation the handlers call is in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .policy import Request

# botocore's endpoint prefix -> IAM's service prefix, where they differ
_IAM_PREFIX = {"monitoring": "cloudwatch", "api.ecr": "ecr"}
# operations that need no permission at all
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


@dataclass(frozen=True)
class Scope:
    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"


Resources = Callable[[Scope, Mapping[str, Any]], list[tuple[str, dict[str, str]]]]


def _anything(_: Scope, __: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [("*", {})]


def _param(name: str) -> Resources:
    """The resource is an ARN the call takes as a parameter."""
    def resources(_: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
        value = params[name]
        return [(arn, {}) for arn in ([value] if isinstance(value, str) else value)]
    return resources


def _cluster_arn(scope: Scope, cluster: str) -> str:
    return cluster if cluster.startswith("arn:") else scope.arn("ecs", f"cluster/{cluster}")


def _ecs_cluster_only(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [("*", {"ecs:cluster": _cluster_arn(scope, params.get("cluster", "default"))})]


def _ecs_services(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    cluster = _cluster_arn(scope, params.get("cluster", "default"))
    names = params["services"] if "services" in params else [params["service"]]
    cluster_name = cluster.rsplit("/", 1)[-1]
    return [(name if name.startswith("arn:") else scope.arn("ecs", f"service/{cluster_name}/{name}"),
             {"ecs:cluster": cluster}) for name in names]


def _ecs_container_instances(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """ListTasks acts on the cluster's container instances (every one, as no instance is named: Fargate)."""
    cluster = _cluster_arn(scope, params.get("cluster", "default"))
    instance = params.get("containerInstance") or "*"
    cluster_name = cluster.rsplit("/", 1)[-1]
    return [(instance if instance.startswith("arn:") else
             scope.arn("ecs", f"container-instance/{cluster_name}/{instance}"), {"ecs:cluster": cluster})]


def _ecs_tasks(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    cluster = _cluster_arn(scope, params.get("cluster", "default"))
    cluster_name = cluster.rsplit("/", 1)[-1]
    return [(task if task.startswith("arn:") else scope.arn("ecs", f"task/{cluster_name}/{task}"),
             {"ecs:cluster": cluster}) for task in params["tasks"]]


def _table(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    table = params["TableName"]
    arn = table if table.startswith("arn:") else scope.arn("dynamodb", f"table/{table}")
    return [(f"{arn}/index/{params['IndexName']}" if "IndexName" in params else arn, {})]


def _alarms(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    names = params.get("AlarmNames") or ["*"]
    return [(scope.arn("cloudwatch", f"alarm:{name}"), {}) for name in names]


def _function(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """The function's ARN, qualified when the call names a version or alias (IAM checks the qualified one)."""
    name = str(params["FunctionName"])
    if not name.startswith("arn:"):  # a name, or a partial ARN "123456789012:function:name"
        name = scope.arn("lambda", f"function:{name.rsplit(':function:', 1)[-1]}")
    qualifier = params.get("Qualifier")
    return [(f"{name}:{qualifier}" if qualifier and name.count(":") == 6 else name, {})]


def _s3_bucket(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(f"arn:{scope.partition}:s3:::{params['Bucket']}", {})]


def _s3_object(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(f"arn:{scope.partition}:s3:::{params['Bucket']}/{params['Key']}", {})]


def _repository(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(scope.arn("ecr", f"repository/{params['repositoryName']}"), {})]


def _log_stream(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(scope.arn("logs", f"log-group:{params['logGroupName']}:log-stream:{params['logStreamName']}"), {})]


def _project(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(scope.arn("codebuild", f"project/{params['projectName']}"), {})]


def _builds(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    return [(scope.arn("codebuild", f"project/{build.split(':', 1)[0]}"), {}) for build in params["ids"]]


def _stack(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    name = params.get("StackName", "*")
    return [(name if name.startswith("arn:") else scope.arn("cloudformation", f"stack/{name}/*"), {})]


def _stack_with_role(scope: Scope, params: Mapping[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """A stack operation that may pass CloudFormation a role: cloudformation:RoleArn names it."""
    return [(arn, {"cloudformation:RoleArn": params["RoleARN"]} if "RoleARN" in params else {})
            for arn, _ in _stack(scope, params)]


# (IAM service prefix, operation) -> (IAM action name when it is not the operation's, the resources)
_TABLE: dict[tuple[str, str], tuple[str | None, Resources]] = {
    **{("elasticloadbalancing", op): (None, _anything) for op in (
        "DescribeLoadBalancers", "DescribeListeners", "DescribeRules", "DescribeTargetGroups", "DescribeTags",
        "DescribeTargetHealth", "DescribeListenerAttributes", "DescribeTargetGroupAttributes")},
    ("elasticloadbalancing", "ModifyListener"): (None, _param("ListenerArn")),
    ("elasticloadbalancing", "ModifyRule"): (None, _param("RuleArn")),
    ("elasticloadbalancing", "AddTags"): (None, _param("ResourceArns")),
    ("elasticloadbalancing", "RemoveTags"): (None, _param("ResourceArns")),
    ("ecs", "ListServices"): (None, _ecs_cluster_only),
    ("ecs", "DescribeServices"): (None, _ecs_services),
    ("ecs", "UpdateService"): (None, _ecs_services),
    ("ecs", "ListTasks"): (None, _ecs_container_instances),
    ("ecs", "DescribeTasks"): (None, _ecs_tasks),
    ("ecs", "DescribeTaskDefinition"): (None, _anything),
    **{("dynamodb", op): (None, _table) for op in (
        "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable")},
    ("sns", "Publish"): (None, lambda s, p: [(p.get("TopicArn") or p["TargetArn"], {})]),
    ("sns", "GetTopicAttributes"): (None, _param("TopicArn")),
    **{("states", op): (None, _param("executionArn"))
       for op in ("DescribeExecution", "GetExecutionHistory", "StopExecution")},
    **{("states", op): (None, _param("stateMachineArn"))
       for op in ("StartExecution", "DescribeStateMachine", "ListExecutions")},
    **{("states", op): (None, _anything) for op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")},
    **{("codepipeline", op): (None, _anything) for op in ("PutJobSuccessResult", "PutJobFailureResult")},
    ("cloudwatch", "DescribeAlarms"): (None, _alarms),
    ("cloudwatch", "GetMetricData"): (None, _anything),
    ("lambda", "Invoke"): ("InvokeFunction", _function),
    ("lambda", "GetFunction"): (None, _function),
    ("xray", "PutTraceSegments"): (None, _anything),
    ("xray", "PutTelemetryRecords"): (None, _anything),
    ("s3", "GetObject"): (None, _s3_object),
    ("s3", "HeadObject"): ("GetObject", _s3_object),
    ("s3", "PutObject"): (None, _s3_object),
    ("s3", "ListObjectsV2"): ("ListBucket", _s3_bucket),
    # the pipeline's actions (the sandbox's CodePipeline and CodeBuild act with their roles)
    ("ecr", "GetAuthorizationToken"): (None, _anything),
    **{("ecr", op): (None, _repository) for op in ("DescribeImages", "PutImage", "BatchGetImage")},
    ("logs", "CreateLogStream"): (None, _log_stream),
    ("logs", "PutLogEvents"): (None, _log_stream),
    ("codebuild", "StartBuild"): (None, _project),
    ("codebuild", "BatchGetBuilds"): (None, _builds),
    **{("cloudformation", op): (None, _stack) for op in (
        "DescribeStacks", "DescribeStackEvents", "GetTemplate", "GetTemplateSummary")},
    **{("cloudformation", op): (None, _stack_with_role) for op in ("CreateStack", "UpdateStack")},
    ("cloudformation", "ValidateTemplate"): (None, _anything),
}


class UnknownOperation(LookupError):
    """An operation the table does not know: authorizing it blindly would prove nothing."""


def iam_prefix(endpoint_prefix: str) -> str:
    return _IAM_PREFIX.get(endpoint_prefix, endpoint_prefix)


# Operations on a resource encrypted with a KMS key that also need the caller's right to use that key
# (SNS requires both of a publisher to an encrypted topic).
# (S3 requires the same of a writer and a reader of objects in a bucket encrypted by default with a KMS key.)
_KEY_USE: dict[tuple[str, str], tuple[str, ...]] = {
    ("sns", "Publish"): ("kms:GenerateDataKey", "kms:Decrypt"),
    ("s3", "PutObject"): ("kms:GenerateDataKey",), ("s3", "GetObject"): ("kms:Decrypt",)}


def requests_for(scope: Scope, endpoint_prefix: str, operation: str, params: Mapping[str, Any],
                 keys: Mapping[str, str] | None = None) -> list[Request]:
    """What IAM must allow for one call; [] for a call that needs no permission.

    `keys` maps an encrypted resource's ARN to its KMS key's ARN.
    """
    prefix = iam_prefix(endpoint_prefix)
    if f"{prefix}:{operation}" in ALWAYS_ALLOWED:
        return []
    entry = _TABLE.get((prefix, operation))
    if entry is None:
        raise UnknownOperation(f"{prefix}:{operation} is not in sandbox/iam/requests.py: add the IAM action "
                               "and resources it acts on, from the Service Authorization Reference")
    action, resources = entry
    name = f"{prefix}:{action or operation}"
    found = [Request(name, resource, context) for resource, context in resources(scope, params)]
    return found + [Request(use, key) for request in found if (key := _key_of(request.resource, params, keys or {}))
                    for use in _KEY_USE.get((prefix, operation), ())]


def _key_of(resource: str, params: Mapping[str, Any], keys: Mapping[str, str]) -> str | None:
    """The KMS key a call on `resource` uses: the one it names, else its own, else its bucket's default."""
    if params.get("SSEKMSKeyId", "").startswith("arn:"):
        return str(params["SSEKMSKeyId"])
    return keys.get(resource) or (keys.get(resource.split("/", 1)[0]) if ":s3:::" in resource
                                  else None)


def known_actions() -> dict[str, Resources]:
    """Every IAM action the table can produce, with how it finds its resources (for the reference check)."""
    return {f"{prefix}:{action or operation}": resources for (prefix, operation), (action, resources) in _TABLE.items()}
