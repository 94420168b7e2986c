"""Packaging the CloudFormation templates the way `aws cloudformation package` does.

The templates in cfn/ are what reviewers read. Packaging turns each into JSON and makes three
substitutions: a nested stack's local `TemplateURL` becomes the S3 URL of its packaged template,
the state machine's local `DefinitionS3Location` becomes an inline `Definition` object (so cfn-lint
validates the ASL with its substitutions), and every key is content-addressed: unchanged input,
unchanged key, so CloudFormation sees no change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import definition, partitions

ROOT = Path(__file__).resolve().parent.parent
CFN = ROOT / "cfn"
PARENT = "main.yaml"
SERVICE = "service.yaml"

_SCALAR_FUNCTIONS = {"Ref": "Ref", "Condition": "Condition"}
_FUNCTIONS = ["Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub",
              "Transform", "And", "Equals", "If", "Not", "Or", "ToJsonString", "Length"]


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, ...)."""


def _construct(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        name = _SCALAR_FUNCTIONS.get(tag, f"Fn::{tag}")
        return {name: value}

    return construct


for _tag in [*_SCALAR_FUNCTIONS, *_FUNCTIONS, "GetAtt"]:
    _Loader.add_constructor(f"!{_tag}", _construct(_tag))


def load(name: str) -> dict[str, Any]:
    template: dict[str, Any] = yaml.load((CFN / name).read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    return template


def dumps(template: dict[str, Any]) -> bytes:
    return json.dumps(template, indent=1, sort_keys=True).encode()


def content_key(prefix: str, data: bytes, suffix: str) -> str:
    return f"{prefix}/{hashlib.sha256(data).hexdigest()[:32]}{suffix}"


@dataclass(frozen=True)
class Packaged:
    """Keys and bodies of everything to upload; `parent_key` and `service_key` are what to deploy."""

    objects: dict[str, bytes]
    parent_key: str
    service_key: str


def package(bucket: str, region: str) -> Packaged:
    objects: dict[str, bytes] = {}
    dns_suffix = partitions.of(region).dns_suffix

    def put(prefix: str, data: bytes, suffix: str) -> str:
        key = content_key(prefix, data, suffix)
        objects[key] = data
        return key

    def url(key: str) -> str:
        return f"https://{bucket}.s3.{region}.{dns_suffix}/{key}"

    def package_one(name: str) -> str:
        template = load(name)
        for resource in template.get("Resources", {}).values():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::CloudFormation::Stack" and not str(properties["TemplateURL"]).startswith(
                    "https://"):
                properties["TemplateURL"] = url(package_one(properties["TemplateURL"]))
            if resource["Type"] == "AWS::StepFunctions::StateMachine" and isinstance(
                    properties.get("DefinitionS3Location"), str):
                path = (CFN / properties.pop("DefinitionS3Location")).resolve()
                properties["Definition"] = definition.load(path)
        return put("templates", dumps(template), ".json")

    parent_key = package_one(PARENT)
    service_key = package_one(SERVICE)
    return Packaged(objects, parent_key, service_key)
