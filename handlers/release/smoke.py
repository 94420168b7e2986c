"""Pure logic of the shipped smoke-test hook: which paths to request, and what makes an answer wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidInput

MAX_CHECKS = 20


@dataclass(frozen=True)
class Check:
    path: str
    contains: str = ""  # text the body must contain ("" : any body)


def parse_checks_text(text: str) -> list[Check]:
    """The stack's SMOKE_TEST_CHECKS: "/,/health=ok" (a path, optionally =TEXT its body must contain)."""
    checks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            path, _, contains = item.partition("=")
            checks.append(Check(path.strip(), contains))
    return _valid(checks)


def parse_checks_details(details: Any) -> list[Check] | None:
    """A release's own checks, from the hook's details: {"checks": [{"path": "/", "contains": "v2"}]}."""
    if not isinstance(details, dict) or "checks" not in details:
        return None
    raw = details["checks"]
    if not isinstance(raw, list) or not all(isinstance(c, dict) and isinstance(c.get("path"), str)
                                            and isinstance(c.get("contains", ""), str) for c in raw):
        raise InvalidInput('The smoke test\'s details must be {"checks": [{"path": "/...", "contains": "text"}]}.')
    return _valid([Check(c["path"], c.get("contains", "")) for c in raw])


def _valid(checks: list[Check]) -> list[Check]:
    if not checks or len(checks) > MAX_CHECKS:
        raise InvalidInput(f"The smoke test needs 1 to {MAX_CHECKS} paths to request, got {len(checks)}.")
    for check in checks:
        if not check.path.startswith("/") or any(ch.isspace() for ch in check.path):
            raise InvalidInput(f"The smoke test's path {check.path!r} must start with '/' and contain no spaces.")
    return checks


def target_url(event: dict[str, Any]) -> str:
    """Where green alone answers: the test listener until all traffic is on green, then production (after a
    rollback, production is blue again: what the on-rollback check is for)."""
    if event.get("stage") == "after-test-traffic" or (event.get("stage") == "after-production-shift"
                                                      and int(event.get("greenTrafficPercent") or 0) < 100):
        return str(event["testUrl"])
    return str(event["productionUrl"])


def judge_answer(check: Check, status: int | None, body: str, error: str) -> str | None:
    """What is wrong with one answer, or None: any status outside 2xx, no answer, or the text missing."""
    if status is None:
        return f"GET {check.path} got no answer ({error})"
    if not 200 <= status < 300:
        return f"GET {check.path} answered {status}"
    if check.contains and check.contains not in body:
        return f"GET {check.path} answered {status} without {check.contains!r} in its body"
    return None


def answer(problems: list[str], checked: int) -> dict[str, Any]:
    """The hook's answer, as the contract says."""
    if problems:
        return {"hookStatus": "FAILED", "reason": "; ".join(problems)}
    return {"hookStatus": "SUCCEEDED", "reason": f"{checked} path(s) answered as expected"}
