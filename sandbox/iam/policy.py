"""IAM's evaluation of identity-based policies for one request (pure).

An explicit Deny wins, then any Allow; anything else is an implicit deny. Actions match case-insensitively,
resources case-sensitively with each of an ARN's six colon-separated parts matched on its own, and
conditions follow IAM's rules for missing keys, negated operators, `...IfExists` and the `ForAnyValue:` /
`ForAllValues:` set operators. What it does not model is refused rather than guessed: other operators,
policy variables, and a global or same-service condition key the request does not carry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class UnsupportedPolicy(ValueError):
    """Something this evaluator does not implement: refusing beats guessing a permission."""


class Decision(Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    """One action on one resource: `resource` is "*" for an action that supports no resource type."""

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


def evaluate(documents: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    allowed = False
    for statement in (s for document in documents for s in _statements(document)):
        if not _applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.EXPLICIT_DENY
        allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if any((a in statement) == (b in statement) for a, b in (("Action", "NotAction"), ("Resource", "NotResource"))):
        raise UnsupportedPolicy(f"a statement needs one of Action/NotAction and one of Resource/NotResource: "
                                f"{statement}")
    if "Action" in statement:
        action = any(_matches(p, request.action, ignore_case=True) for p in _listed(statement["Action"]))
    else:
        action = not any(_matches(p, request.action, ignore_case=True) for p in _listed(statement.get("NotAction")))
    if not action:
        return False
    if "Resource" in statement:
        resource = any(arn_matches(p, request.resource) for p in _listed(statement["Resource"]))
    else:
        resource = not any(arn_matches(p, request.resource) for p in _listed(statement.get("NotResource")))
    return resource and conditions_hold(statement.get("Condition") or {}, request.context,
                                        request.action.split(":", 1)[0])


@functools.lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def arn_matches(pattern: str, value: str) -> bool:
    """IAM's ARN match: "*" matches anything; otherwise part by part (the sixth part keeps its colons)."""
    if "${" in pattern:
        raise UnsupportedPolicy(f"policy variables are not supported by the sandbox's IAM: {pattern}")
    if pattern == "*":
        return True
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return _matches(pattern, value)
    return all(_matches(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


# operator -> (does one context value match one policy value, is the operator negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: _matches(p, v), False),
    "StringNotLike": (lambda v, p: _matches(p, v), True),
    # ArnEquals takes wildcards as ArnLike does; the policy's value is the pattern
    "ArnEquals": (lambda v, p: arn_matches(p, v), False),
    "ArnLike": (lambda v, p: arn_matches(p, v), False),
    "ArnNotEquals": (lambda v, p: arn_matches(p, v), True),
    "ArnNotLike": (lambda v, p: arn_matches(p, v), True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
}


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Mapping[str, str | Sequence[str]],
                    service: str) -> bool:
    """All operators, all keys of each, any value of a key; `service` is the action's (keys of others are absent)."""
    keys = {k.lower(): v for k, v in context.items()}  # condition keys are case-insensitive
    return all(_condition(operator, key, expected, keys, service)
               for operator, tests in block.items() for key, expected in tests.items())


def _condition(operator: str, key: str, expected: Any, context: Mapping[str, str | Sequence[str]],
               service: str) -> bool:
    present = context.get(key.lower())
    wanted = [str(p).lower() if isinstance(p, bool) else str(p)
              for p in (expected if isinstance(expected, list) else [expected])]
    if any("${" in p for p in wanted):
        raise UnsupportedPolicy(f"policy variables are not supported by the sandbox's IAM: {key} {wanted}")
    if present is None and key.split(":", 1)[0].lower() in ("aws", service.lower()):
        # A key of this service or a global one that the request does not carry is one the sandbox does not
        # model: whether AWS would supply it is unknown here, so no answer is given.
        raise UnsupportedPolicy(f"condition key {key!r} is not modelled by the sandbox's IAM for {service} calls")
    if operator == "Null":  # "true": the key must be absent
        return (present is None) == (wanted[0].lower() == "true")
    set_operator, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name not in _OPERATORS or set_operator not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"condition operator {operator!r} is not supported by the sandbox's IAM")
    compare, negated = _OPERATORS[name]
    if present is None:  # ForAnyValue: false; ForAllValues: true; single-valued: only ...IfExists or negated
        return set_operator == "ForAllValues" or (set_operator == "" and (if_exists or negated))
    values = [present] if isinstance(present, str) else list(present)

    def one(value: str) -> bool:
        hit = any(compare(value, p) for p in wanted)
        return not hit if negated else hit

    return all(one(v) for v in values) if set_operator == "ForAllValues" else any(one(v) for v in values)
