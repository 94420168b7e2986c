"""Observe: read what is deployed once, into one immutable value that planning decides from.

Only reads (Describe*, Get*, Head*, List*): observing never changes anything, which is what makes `--dry-run` safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from botocore.exceptions import ClientError

from release.exceptions import ReleaseError
from release.gateways.elbv2 import LoadBalancing
from release.topology import IDENTIFIER_TAG, single_target

from . import partitions, stacks
from .errors import DeployError
from .settings import Settings
from .state import SIDES, BucketState, Observed, OwnedBucket, StackState
from .target import Target


def stack(cfn: Any, name: str, with_template: bool = False) -> StackState | None:
    described = stacks.describe(cfn, name)
    if described is None:
        return None
    template = None
    if with_template and described["StackStatus"] != "REVIEW_IN_PROGRESS":
        template = _template(cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"])
    return StackState(
        name=name, status=described["StackStatus"],
        parameters=MappingProxyType({p["ParameterKey"]: p.get("ParameterValue", "")
                                     for p in described.get("Parameters", [])}),
        outputs=MappingProxyType({o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}),
        template=template)


def _template(body: Any) -> dict[str, Any] | None:
    """boto3 gives a JSON template as a dict and anything else as text; None when it is not JSON (a template
    someone deployed as YAML by hand): it then counts as changed."""
    if not isinstance(body, str):
        return dict(body)
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def bucket(s3: Any, name: str) -> BucketState:
    try:
        head = s3.head_bucket(Bucket=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return BucketState(name, exists=False)
        if code in {"403", "AccessDenied", "Forbidden", "301", "400"}:
            return BucketState(name, exists=True, readable=False)
        raise
    # HeadBucket names the bucket's region; GetBucketLocation answers "EU" or nothing for older regions.
    region = head.get("BucketRegion") or _location(s3.get_bucket_location(Bucket=name).get("LocationConstraint"))
    return BucketState(name, exists=True, region=region)


def _location(constraint: str | None) -> str:
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, str(constraint))


def present(s3: Any, bucket_name: str, keys: Iterable[str]) -> frozenset[str]:
    found = set()
    for key in keys:
        try:
            s3.head_object(Bucket=bucket_name, Key=key)
            found.add(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise
    return frozenset(found)


def live_side(target: Target, parent: StackState) -> str:
    """Code1 or Code2, from the production listener: an update must never move production.

    A stack whose listener cannot be read is an error, never a guess.
    """
    port = int(parent.parameter("ProductionPort", "0"))
    try:
        gateway = LoadBalancing(target.client("elbv2"))
        lb = gateway.load_balancer(parent.outputs["LoadBalancerName"])
        arn = single_target(gateway.listener(lb.arn, port, "production"))
        identifier = gateway.tags([arn]).get(arn, {}).get(IDENTIFIER_TAG)
    except ReleaseError as exc:
        raise DeployError(f"Could not read which side is live ({type(exc).__name__}: {exc}). Nothing was changed; "
                          "fix the load balancer or finish the release in progress, then deploy again.") from exc
    if identifier not in SIDES:
        raise DeployError(f"The production target group {arn} has {IDENTIFIER_TAG}={identifier!r}; expected Code1 "
                          "or Code2. Restore the tag, then deploy again. Nothing was changed.")
    return str(identifier)


def running(target: Target, parent: StackState) -> tuple[str, ...]:
    """Names of the releases in progress (RUNNING executions of the state machine)."""
    machine = parent.outputs.get("StateMachineArn")
    if not machine:
        return ()
    pages = target.client("stepfunctions").get_paginator("list_executions").paginate(
        stateMachineArn=machine, statusFilter="RUNNING")
    return tuple(e["name"] for page in pages for e in page["executions"])


def system(target: Target, settings: Settings, for_update: bool = False) -> Observed:
    """The stacks of `settings.name`; `for_update`: also their templates, the live side and the releases in
    progress, which an update must know (and which tearing down must not depend on)."""
    cfn = target.client("cloudformation")
    parent = stack(cfn, settings.stack, for_update)
    service = stack(cfn, settings.service_stack, for_update)
    deployed = for_update and parent is not None and "LoadBalancerName" in parent.outputs
    return Observed(account=target.account(), region=target.region, parent=parent, service=service,
                    live_side=live_side(target, parent) if deployed and parent else None,
                    running=running(target, parent) if deployed and parent else (),
                    partition=partitions.of(target.region))


RETAINED = {"Retain", "RetainExceptOnCreate"}  # DeletionPolicy values that keep a resource when its stack goes


def owned_buckets(cfn: Any, stack_name: str) -> tuple[OwnedBucket, ...]:
    """The buckets that `stack_name` and its nested stacks created (the pipeline's artifact store), and whether each
    outlives the stack. Reads the resources of every (nested) stack, and the template of those with a bucket."""
    found: list[OwnedBucket] = []
    pending = [stack_name]
    while pending:
        current = pending.pop()
        resources = [r for page in cfn.get_paginator("list_stack_resources").paginate(StackName=current)
                     for r in page["StackResourceSummaries"]
                     if r.get("PhysicalResourceId") and r["ResourceStatus"] != "DELETE_COMPLETE"]
        pending += [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::CloudFormation::Stack"]
        buckets = [r for r in resources if r["ResourceType"] == "AWS::S3::Bucket"]
        if buckets:
            declared = (_template(cfn.get_template(StackName=current)["TemplateBody"]) or {}).get("Resources", {})
            found += [OwnedBucket(r["PhysicalResourceId"], stack_name,
                                  declared.get(r["LogicalResourceId"], {}).get("DeletionPolicy") in RETAINED)
                      for r in buckets]
    return tuple(found)


def with_owned_buckets(target: Target, observed: Observed) -> Observed:
    """The observation plus the buckets its stacks own: what tearing them down must empty first."""
    cfn = target.client("cloudformation")
    owned = tuple(bucket for state in (observed.parent, observed.service) if state
                  for bucket in owned_buckets(cfn, state.name))
    return replace(observed, owned_buckets=owned)


def with_bucket(target: Target, observed: Observed, bucket_name: str, keys: Iterable[str]) -> Observed:
    """The observation plus the artifact bucket and which of `keys` it already holds."""
    s3 = target.client("s3")
    state = bucket(s3, bucket_name)
    have = present(s3, bucket_name, keys) if state.exists and state.readable else frozenset()
    return replace(observed, bucket=state, present_keys=have)
