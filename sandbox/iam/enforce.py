"""Every AWS call a function makes, authorized against the function's deployed role before it is sent.

The role is read from the sandbox's IAM as CloudFormation created it (inline and attached policies). A
call the role does not allow fails as AWS fails it: the service's own access-denied error, with AWS's
message naming the assumed role, the action and the resource. Identity-based policies are what is
evaluated; resource policies, permission boundaries and SCPs are not (the README lists this).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from .policy import Decision, Request, evaluate
from .requests import Scope, iam_prefix, requests_for

# The error each service answers with when IAM refuses a call, and its HTTP status.
_DENIED = {"elasticloadbalancing": ("AccessDenied", 400), "cloudwatch": ("AccessDenied", 403),
           "sns": ("AuthorizationError", 403), "s3": ("AccessDenied", 403), "sts": ("AccessDenied", 403)}
_DEFAULT_DENIED = ("AccessDeniedException", 400)


@dataclass(frozen=True)
class Principal:
    """A function's assumed role: who calls, and the identity-based policies that decide."""

    role_arn: str
    session: str
    documents: tuple[Mapping[str, Any], ...]
    # resource ARN -> KMS key ARN whose use a call on that resource implies (an encrypted SNS topic's key)
    keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def scope(self) -> tuple[str, str]:
        _, partition, _, _, account, _ = self.role_arn.split(":", 5)
        return partition, account

    @property
    def arn(self) -> str:
        partition, account = self.scope
        return f"arn:{partition}:sts::{account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.session}"

    def to_json(self) -> dict[str, Any]:
        return {"roleArn": self.role_arn, "session": self.session, "documents": list(self.documents),
                "keys": dict(self.keys)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Principal:
        return cls(data["roleArn"], data["session"], tuple(data["documents"]), dict(data.get("keys", {})))


def _document(text: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(text, Mapping):
        return text
    return dict(json.loads(unquote(text) if text.lstrip().startswith("%") else text))


def principal_of(role_arn: str, session: str) -> Principal:
    """The deployed role's policies, from the sandbox's IAM (moto's backend, read in place)."""
    from moto.iam.models import iam_backends

    _, partition, _, _, account, _ = role_arn.split(":", 5)
    role = iam_backends[account][partition].get_role_by_arn(role_arn)
    documents = [_document(text) for text in role.policies.values()]
    for policy in role.managed_policies.values():
        version = next(v for v in policy.versions if v.version_id == policy.default_version_id)
        documents.append(_document(version.document))
    return Principal(role_arn, session, tuple(documents), _resource_keys(account, partition))


def _resource_keys(account: str, partition: str) -> dict[str, str]:
    """The KMS key ARN of each encrypted topic and of each bucket encrypted by default with a KMS key: publishing
    to such a topic, or writing and reading such a bucket's objects, also needs the right to use the key."""
    from moto.kms.models import kms_backends
    from moto.s3.models import s3_backends
    from moto.sns.models import sns_backends

    def key_arn(region: str, key: str) -> str:
        key_id = kms_backends[account][region].any_id_to_key_id(key)
        return f"arn:{partition}:kms:{region}:{account}:key/{key_id}"

    keys = {}
    for region, backend in sns_backends[account].items():
        for arn, topic in backend.topics.items():
            if topic.kms_master_key_id:
                keys[arn] = key_arn(region, topic.kms_master_key_id)
    for name, bucket in s3_backends[account][partition].buckets.items():
        rules = (bucket.encryption or {}).get("Rule") or []
        for rule in rules if isinstance(rules, list) else [rules]:
            default = rule.get("ApplyServerSideEncryptionByDefault") or {}
            if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                keys[f"arn:{partition}:s3:::{name}"] = key_arn(bucket.region_name, default["KMSMasterKeyID"])
    return keys


def _carried(principal: Principal, region: str) -> dict[str, str]:
    """The global condition keys every request to AWS carries, as far as the sandbox knows them (it is one
    account: every resource a call acts on is the caller's account's)."""
    account = principal.scope[1]
    return {"aws:PrincipalArn": principal.role_arn, "aws:PrincipalAccount": account,
            "aws:PrincipalType": "AssumedRole", "aws:RequestedRegion": region, "aws:SecureTransport": "true",
            "aws:ResourceAccount": account}


def denial(principal: Principal, region: str, endpoint_prefix: str, operation: str,
           params: Mapping[str, Any]) -> tuple[str, int, str] | None:
    """(error code, HTTP status, AWS's message) when IAM refuses this call, else None."""
    partition, account = principal.scope
    carried = _carried(principal, region)
    for found in requests_for(Scope(partition, region, account), endpoint_prefix, operation, params,
                              principal.keys):
        request = Request(found.action, found.resource, {**carried, **found.context})
        decision = evaluate(principal.documents, request)
        if decision is not Decision.ALLOW:
            return _refusal(principal, endpoint_prefix, request, decision, kms=request.action.startswith("kms:"))
    return None


def _refusal(principal: Principal, endpoint_prefix: str, request: Request, decision: Decision,
             *, kms: bool) -> tuple[str, int, str]:
    why = ("with an explicit deny in an identity-based policy" if decision is Decision.EXPLICIT_DENY
           else f"because no identity-based policy allows the {request.action} action")
    # SNS answers KMSAccessDenied when the publisher may not use the topic's key
    code, status = ("KMSAccessDenied", 400) if kms else _DENIED.get(iam_prefix(endpoint_prefix), _DEFAULT_DENIED)
    return code, status, (f"User: {principal.arn} is not authorized to perform: {request.action} "
                          f"on resource: {request.resource} {why}")


def authorize(principal: Principal, region: str, action: str, resource: str,
              context: Mapping[str, str] | None = None) -> tuple[str, int, str] | None:
    """An IAM check with no API call of its own: what a service does with the caller's role (CodePipeline using
    a connection, a registry receiving layers). (error code, HTTP status, message) when refused, else None."""
    request = Request(action, resource, {**_carried(principal, region), **(context or {})})
    decision = evaluate(principal.documents, request)
    if decision is Decision.ALLOW:
        return None
    return _refusal(principal, action.split(":", 1)[0], request, decision, kms=False)


_acting: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("sandbox_iam_principal", default=None)
# A process that runs one invocation (the sandbox's worker) acts as its function everywhere, threads included.
_process_principal: Principal | None = None
_install_lock = threading.Lock()
_installed = False
_machines_installed = False


@contextlib.contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """Calls made in this context (this thread, this invocation) are authorized as `principal`."""
    token = _acting.set(principal)
    try:
        yield
    finally:
        _acting.reset(token)


def install(process_principal: Principal | None = None) -> None:
    """Put the check in front of every boto3 client.

    With `process_principal` every call this process makes is checked as that principal (a worker running
    one invocation, whatever thread calls); without, only calls made inside `acting_as`.
    """
    global _installed, _process_principal
    with _install_lock:
        _process_principal = process_principal or _process_principal
        if _installed:
            return
        send = BaseClient._make_api_call  # type: ignore[attr-defined]

        def authorized(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            principal = _acting.get() or _process_principal
            if principal is not None:
                refused = denial(principal, self.meta.region_name, self.meta.service_model.endpoint_prefix,
                                 operation_name, api_params)
                if refused is not None:
                    raise _error(self, operation_name, *refused)
            return send(self, operation_name, api_params)

        BaseClient._make_api_call = authorized  # type: ignore[attr-defined]
        _installed = True


def install_state_machines() -> None:
    """Authorize each Lambda invocation a Step Functions execution makes against its state machine's role.

    moto's ASL interpreter invokes functions through boto3, each task from a thread of its own; the
    role is set around that one call, and the function's invocation inside it acts as the function's role.
    """
    global _machines_installed
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    with _install_lock:
        if _machines_installed:
            return
        integrate = lambda_eval_utils.execute_lambda_function_integration

        def as_its_role(env: Any, parameters: dict[str, Any], region: str, state_credentials: Any) -> None:
            principal = principal_of(str(env.aws_execution_details.role_arn), "StepFunctions")
            with acting_as(principal):
                integrate(env, parameters, region, state_credentials)

        lambda_eval_utils.execute_lambda_function_integration = as_its_role
        _machines_installed = True


def _error(client: BaseClient, operation: str, code: str, status: int, message: str) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message},
                     "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())}}
    error_class: Any = client.exceptions.from_code(code)  # the service's modelled exception class
    return error_class(response, operation)  # type: ignore[no-any-return]

