"""Lambda, the shipped lifecycle hook: request paths; FAILED on any non-2xx, no answer, or missing text.

Before approval (after-test-traffic) it requests the test listener, where green is; at the other stages the
production listener (green after a shift or the swap, blue after a rollback). Its paths come from the release
(the hook's details: {"checks": [{"path": "/", "contains": "v2"}]}) or else from the stack (SMOKE_TEST_CHECKS).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.exceptions import InvalidInput
from release.gateways.probe import fetch
from release.observability import logger, tracer
from release.settings import setting
from release.smoke import answer, judge_answer, parse_checks_details, parse_checks_text

REQUEST_TIMEOUT_SECONDS = 5


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        checks = parse_checks_details(event.get("hookDetails")) or parse_checks_text(setting("SMOKE_TEST_CHECKS"))
    except InvalidInput as exc:  # a hook's answer, not an error: the release says why it stopped
        return {"hookStatus": "FAILED", "reason": str(exc)}
    url = event["testUrl"] if event.get("stage") == "after-test-traffic" else event["productionUrl"]
    base = str(url).rstrip("/")
    problems = []
    for check in checks:
        status, body, error = fetch(base + check.path, REQUEST_TIMEOUT_SECONDS)
        problem = judge_answer(check, status, body, error)
        if problem:
            problems.append(problem)
    result = answer(problems, len(checks))
    logger.info("Smoke test", extra={"stage": event.get("stage"), "checked": len(checks),
                                     "hookStatus": result["hookStatus"], "reason": result["reason"]})
    return result
