"""The functions' execution roles exactly as cfn/engine.yaml grants them, for worlds built without CloudFormation.

The template's own policy documents are taken and their intrinsic functions resolved against the world's
names and ARNs. A reference the world does not know resolves to a value no ARN matches, so a permission
that depends on it grants nothing: a missing mapping shows up as an AccessDenied, never as a pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from deployer import templates

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def _unknown(name: str) -> str:
    return f"arn:aws:unresolved:::{name}"


def resolve(node: Any, values: Mapping[str, str]) -> Any:
    """Ref, Fn::GetAtt, Fn::Sub and Fn::Join resolved from `values` ("Name", "Table.Arn", "AWS::Region")."""
    if isinstance(node, list):
        return [resolve(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, argument), = node.items()
        if key == "Ref":
            return values.get(argument, _unknown(argument))
        if key == "Fn::GetAtt":
            name = ".".join(argument)
            return values.get(name, _unknown(name))
        if key == "Fn::Sub":
            text, local = (argument, {}) if isinstance(argument, str) else argument
            scope = {**values, **{k: resolve(v, values) for k, v in local.items()}}
            text = _SUB.sub(lambda m: scope.get(m.group(1), _unknown(m.group(1))), text)
            return text.replace("${!", "${")  # ${!Literal} stands for the text ${Literal}
        if key == "Fn::Join":
            return str(argument[0]).join(resolve(argument[1], values))
        if key.startswith("Fn::") or key == "Condition":  # resolving it wrongly would pass or fail unseen
            raise NotImplementedError(f"{key} in a role policy: teach tests/support/roles.py to resolve it")
    return {key: resolve(value, values) for key, value in node.items()}


def role_policies(logical_id: str, values: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """One engine.yaml role's inline policies (name, document), resolved as deployed."""
    role = templates.load("engine.yaml")["Resources"][logical_id]["Properties"]
    return [(policy["PolicyName"], resolve(policy["PolicyDocument"], values)) for policy in role.get("Policies", [])]


def function_policies(values: Mapping[str, str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Handler module -> its role's inline policies (name, document), as deployed from engine.yaml."""
    resources = templates.load("engine.yaml")["Resources"]
    return {resource["Properties"]["Handler"].rsplit(".", 1)[0]:
            role_policies(resource["Properties"]["Role"]["Fn::GetAtt"][0], values)
            for resource in resources.values() if resource["Type"] == "AWS::Lambda::Function"}


def revoke(document: dict[str, Any], actions: set[str]) -> None:
    """Take `actions` out of every statement of a policy document (a statement left with none is dropped)."""
    kept = []
    for statement in document["Statement"]:
        if "Action" not in statement:  # a NotAction statement is kept as it is
            kept.append(statement)
            continue
        listed = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        statement["Action"] = [a for a in listed if a not in actions]
        if statement["Action"]:
            kept.append(statement)
    document["Statement"] = kept
