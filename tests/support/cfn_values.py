"""The ARN patterns a CloudFormation value can take, followed across the nested stacks of cfn/.

A `Ref` to a parameter is followed to what the parent stack passes (main.yaml gives each nested stack its
parameters, often another stack's output, followed in turn); a `Ref` or `Fn::GetAtt ... .Arn` of a resource
becomes the ARN format of its type; a pseudo parameter, a name, an id or a parameter the deployer fills is a
SEGMENT (see arns.py). A value whose ARN is not known here becomes a lone SEGMENT, which matches no ARN: the
checks then report it instead of passing it unexamined.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer import templates

from .arns import Pattern, Wild, concat, pattern

# What `Fn::GetAtt <resource>.Arn` returns, per the CloudFormation resource reference ("Return values").
# CloudWatch Logs' log group ARN ends in ":*"; ${...} is a name or id fixed at deployment, named as the
# reference names it where it may hold a "/" (arns.PATH_VARIABLES).
GETATT_ARN = {
    "AWS::CodeBuild::Project": "arn:${Partition}:codebuild:${Region}:${Account}:project/${Name}",
    "AWS::DynamoDB::Table": "arn:${Partition}:dynamodb:${Region}:${Account}:table/${Name}",
    "AWS::ECR::Repository": "arn:${Partition}:ecr:${Region}:${Account}:repository/${RepositoryName}",
    "AWS::ECS::Cluster": "arn:${Partition}:ecs:${Region}:${Account}:cluster/${Name}",
    "AWS::IAM::Role": "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}",
    "AWS::KMS::Key": "arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",
    "AWS::Lambda::Function": "arn:${Partition}:lambda:${Region}:${Account}:function:${Name}",
    "AWS::Logs::LogGroup": "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:*",
    "AWS::S3::Bucket": "arn:${Partition}:s3:::${Name}",
    "AWS::StepFunctions::StateMachine": "arn:${Partition}:states:${Region}:${Account}:stateMachine:${Name}",
}
# The resource types whose `Ref` is an ARN (for every other type here it is a name or an id). The load
# balancer here is an application load balancer (load-balancer.yaml), hence "app".
REF_ARN = {
    "AWS::ElasticLoadBalancingV2::Listener":
        "arn:${Partition}:elasticloadbalancing:${Region}:${Account}:listener/app/${Name}/${LbId}/${Id}",
    "AWS::ElasticLoadBalancingV2::LoadBalancer":
        "arn:${Partition}:elasticloadbalancing:${Region}:${Account}:loadbalancer/app/${Name}/${Id}",
    "AWS::ElasticLoadBalancingV2::TargetGroup":
        "arn:${Partition}:elasticloadbalancing:${Region}:${Account}:targetgroup/${Name}/${Id}",
    "AWS::SNS::Topic": "arn:${Partition}:sns:${Region}:${Account}:${Name}",
    "AWS::StepFunctions::StateMachine": GETATT_ARN["AWS::StepFunctions::StateMachine"],
}
PSEUDO_PARAMETERS = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix", "AWS::StackName"}
UNKNOWN: Pattern = (Wild.SEGMENT,)


@dataclass(frozen=True)
class Stacks:
    """The templates by file name, each nested one with the parent resource that creates it, and the ARN
    formats of the top-level parameters that are whole ARNs (values the deployer passes)."""

    templates: Mapping[str, dict[str, Any]]
    parents: Mapping[str, tuple[str, str]]
    inputs: Mapping[str, str]

    @classmethod
    def load(cls, directory: Path, inputs: Mapping[str, str]) -> Stacks:
        loaded = {path.name: templates.load(str(path.resolve())) for path in sorted(directory.glob("*.yaml"))}
        parents = {resource["Properties"]["TemplateURL"]: (name, logical)
                   for name, template in loaded.items()
                   for logical, resource in template.get("Resources", {}).items()
                   if resource["Type"] == "AWS::CloudFormation::Stack"}
        return cls(loaded, parents, inputs)

    def resources(self, name: str) -> Mapping[str, dict[str, Any]]:
        resources: Mapping[str, dict[str, Any]] = self.templates[name].get("Resources", {})
        return resources

    def patterns(self, name: str, value: Any) -> list[Pattern]:
        """Every pattern `value` (a template expression in template `name`) can take."""
        if isinstance(value, str):
            return [pattern(value)]
        if isinstance(value, dict) and len(value) == 1:
            [(function, argument)] = value.items()
            if function == "Ref":
                return self._ref(name, argument)
            if function == "Fn::GetAtt":
                return self._getatt(name, *argument)
            if function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return self._sub(name, text, variables)
            if function == "Fn::Join":
                separator, parts = argument
                return _products([[pattern(separator)] if i else [()] for i in range(len(parts))],
                                 [self.patterns(name, part) for part in parts])
            if function == "Fn::If":
                return self.patterns(name, argument[1]) + self.patterns(name, argument[2])
            if function == "Fn::Select" and argument[1].get("Fn::Split", [None])[0] == ":":
                return [UNKNOWN]  # one field of an ARN split on ":" holds no ":"
        raise ValueError(f"{name}: no ARN pattern for {value!r}")

    def _ref(self, name: str, target: str) -> list[Pattern]:
        if target in PSEUDO_PARAMETERS:
            return [UNKNOWN]
        template = self.templates[name]
        if target in template.get("Parameters", {}):
            return self._parameter(name, target)
        resource_type = template["Resources"][target]["Type"]
        return [pattern(REF_ARN[resource_type])] if resource_type in REF_ARN else [UNKNOWN]

    def _parameter(self, name: str, parameter: str) -> list[Pattern]:
        if name in self.parents:
            parent, logical = self.parents[name]
            passed = self.resources(parent)[logical]["Properties"].get("Parameters", {})
            if parameter in passed:
                return self.patterns(parent, passed[parameter])
            default = self.templates[name]["Parameters"][parameter].get("Default")
            return [pattern(str(default))] if default is not None else [UNKNOWN]
        return [pattern(self.inputs[parameter])] if parameter in self.inputs else [UNKNOWN]

    def _getatt(self, name: str, logical: str, attribute: str) -> list[Pattern]:
        resource = self.resources(name)[logical]
        if resource["Type"] == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
            child = resource["Properties"]["TemplateURL"]
            output = self.templates[child]["Outputs"][attribute.removeprefix("Outputs.")]
            return self.patterns(child, output["Value"])
        if attribute == "Arn":
            return [pattern(GETATT_ARN[resource["Type"]])]
        return [UNKNOWN]  # names, ids, URIs

    def _sub(self, name: str, text: str, variables: Mapping[str, Any]) -> list[Pattern]:
        literals: list[list[Pattern]] = []
        values: list[list[Pattern]] = []
        rest = text
        while "${" in rest:
            before, _, after = rest.partition("${")
            variable, _, rest = after.partition("}")
            if variable.startswith("!"):  # ${!Literal} is the text "${Literal}"
                literals.append([concat(pattern(before), tuple("${" + variable[1:] + "}"))])
                values.append([()])
                continue
            literals.append([pattern(before)])
            if variable in variables:
                values.append(self.patterns(name, variables[variable]))
            elif "." in variable:
                values.append(self._getatt(name, *variable.split(".", 1)))
            else:
                values.append(self._ref(name, variable))
        literals.append([pattern(rest)])
        values.append([()])
        return _products(literals, values)


def _products(firsts: Iterable[list[Pattern]], seconds: Iterable[list[Pattern]]) -> list[Pattern]:
    """Every concatenation first[0] + second[0] + first[1] + second[1] + ..., one choice from each list."""
    parts = [choices for pair in zip(firsts, seconds, strict=True) for choices in pair]
    return [concat(*choice) for choice in itertools.product(*parts)]
