"""Observe: read what is deployed once, into one immutable value that planning decides from.

Only reads (Describe*, Get*, Head*): observing never changes anything, which is what makes `--dry-run` safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from botocore.exceptions import ClientError

from release.exceptions import ReleaseError
from release.gateways.elbv2 import LoadBalancing
from release.topology import IDENTIFIER_TAG, single_target

from . import stacks
from .errors import DeployError
from .settings import Settings
from .target import Target

SIDES = ("Code1", "Code2")


@dataclass(frozen=True)
class StackState:
    name: str
    status: str
    parameters: Mapping[str, str]
    outputs: Mapping[str, str]
    template: Mapping[str, Any] | None = None  # the deployed template, when it was read

    def parameter(self, key: str, default: str = "") -> str:
        return self.parameters.get(key) or default


@dataclass(frozen=True)
class BucketState:
    name: str
    exists: bool
    region: str | None = None
    readable: bool = True


@dataclass(frozen=True)
class Observed:
    """The deployed system as read at one moment; what a plan is made from."""

    account: str
    region: str
    parent: StackState | None
    service: StackState | None
    bucket: BucketState | None = None
    present_keys: frozenset[str] = frozenset()  # artifact keys already in the bucket
    live_side: str | None = None  # Code1/Code2 behind the production listener; None before the first deploy

    @property
    def outputs(self) -> Mapping[str, str]:
        return self.parent.outputs if self.parent else MappingProxyType({})


def stack(cfn: Any, name: str, with_template: bool = False) -> StackState | None:
    described = stacks.describe(cfn, name)
    if described is None:
        return None
    template = None
    if with_template and described["StackStatus"] != "REVIEW_IN_PROGRESS":
        body = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
        template = json.loads(body) if isinstance(body, str) else dict(body)
    return StackState(
        name=name, status=described["StackStatus"],
        parameters=MappingProxyType({p["ParameterKey"]: p.get("ParameterValue", "")
                                     for p in described.get("Parameters", [])}),
        outputs=MappingProxyType({o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}),
        template=template)


def bucket(s3: Any, name: str) -> BucketState:
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return BucketState(name, exists=False)
        if code in {"403", "AccessDenied", "Forbidden"}:
            return BucketState(name, exists=True, readable=False)
        raise
    location = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
    return BucketState(name, exists=True, region=location)


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


def system(target: Target, settings: Settings, with_templates: bool = False) -> Observed:
    """The stacks of `settings.name` and which side is live: enough to operate releases."""
    cfn = target.client("cloudformation")
    parent = stack(cfn, settings.stack, with_templates)
    service = stack(cfn, settings.service_stack, with_templates)
    live = live_side(target, parent) if parent and "LoadBalancerName" in parent.outputs else None
    return Observed(account=target.account(), region=target.region, parent=parent, service=service, live_side=live)


def with_bucket(target: Target, observed: Observed, bucket_name: str, keys: Iterable[str]) -> Observed:
    """The observation plus the artifact bucket and which of `keys` it already holds."""
    s3 = target.client("s3")
    state = bucket(s3, bucket_name)
    have = present(s3, bucket_name, keys) if state.exists and state.readable else frozenset()
    return replace(observed, bucket=state, present_keys=have)
