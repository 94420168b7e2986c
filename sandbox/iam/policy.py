"""IAM's evaluation of identity-based policies for one request (pure).

An explicit Deny wins, then any Allow; anything else is an implicit deny. Actions match case-insensitively,
resources case-sensitively with each of an ARN's six colon-separated parts matched on its own, and
conditions follow IAM's rules for missing keys, negated operators, `...IfExists` and the `ForAnyValue:` /
`ForAllValues:` set operators. Operators the templates do not use are refused rather than guessed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


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
    return resource and conditions_hold(statement.get("Condition") or {}, request.context)


@functools.lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).fullmatch(value) is not None


def arn_matches(pattern: str, value: str) -> bool:
    """IAM's ARN match: "*" matches anything; otherwise part by part (the sixth part keeps its colons)."""
    if pattern == "*":
        return True
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return _matches(pattern, value)
    return all(_matches(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


# operator -> (compare one context value with one policy value, negated)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: _matches(p, v), False),
    "StringNotLike": (lambda v, p: _matches(p, v), True),
    "ArnEquals": (arn_matches, False), "ArnLike": (arn_matches, False),  # both take wildcards in IAM
    "ArnNotEquals": (arn_matches, True), "ArnNotLike": (arn_matches, True),
    "Bool": (lambda v, p: v.lower() == str(p).lower(), False),
}


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator does not implement: refusing beats guessing a permission."""


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Mapping[str, str | Sequence[str]]) -> bool:
    keys = {k.lower(): v for k, v in context.items()}  # condition keys are case-insensitive
    return all(_condition(operator, key, expected, keys)
               for operator, tests in block.items() for key, expected in tests.items())


def _condition(operator: str, key: str, expected: Any, context: Mapping[str, str | Sequence[str]]) -> bool:
    present = context.get(key.lower())
    wanted = [str(p).lower() if isinstance(p, bool) else str(p)
              for p in (expected if isinstance(expected, list) else [expected])]
    if operator == "Null":  # "true": the key must be absent
        return (present is None) == (str(wanted[0]).lower() == "true")
    set_operator, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name not in _OPERATORS or set_operator not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedCondition(f"condition operator {operator!r} is not supported by the sandbox's IAM")
    compare, negated = _OPERATORS[name]
    if present is None:
        return if_exists or negated or set_operator == "ForAllValues"
    values = [present] if isinstance(present, str) else list(present)

    def one(value: str) -> bool:
        hit = any(compare(value, p) for p in wanted)
        return not hit if negated else hit

    return all(one(v) for v in values) if set_operator == "ForAllValues" else any(one(v) for v in values)
