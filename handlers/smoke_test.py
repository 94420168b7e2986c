"""Lambda, the shipped lifecycle hook: request paths; FAILED on any non-2xx, no answer, or missing text.

It requests green where green alone answers: the test listener before approval and during a canary or linear
step, the production listener once all traffic is on green (after the swap), and after a rollback the production
listener again (blue). Its paths come from the release (the hook's details: {"checks": [{"path": "/",
"contains": "v2"}]}) or else from the stack (SMOKE_TEST_CHECKS). It answers within its own timeout: checks it
has no time left for are reported as not made, and the hook fails.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.exceptions import InvalidInput
from release.gateways.probe import fetch
from release.observability import logger, tracer
from release.settings import setting
from release.smoke import answer, judge_answer, parse_checks_details, parse_checks_text, target_url

REQUEST_TIMEOUT_SECONDS = 5


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        checks = parse_checks_details(event.get("hookDetails")) or parse_checks_text(setting("SMOKE_TEST_CHECKS"))
    except InvalidInput as exc:  # a hook's answer, not an error: the release says why it stopped
        return {"hookStatus": "FAILED", "reason": str(exc)}
    base = str(target_url(event)).rstrip("/")
    problems = []
    for index, check in enumerate(checks):
        if context.get_remaining_time_in_millis() < (REQUEST_TIMEOUT_SECONDS + 2) * 1000:
            problems.append(f"no time left for {len(checks) - index} of {len(checks)} checks (the function's "
                            "timeout): check fewer paths, or give the function more time")
            break
        status, body, error = fetch(base + check.path, REQUEST_TIMEOUT_SECONDS)
        problem = judge_answer(check, status, body, error)
        if problem:
            problems.append(problem)
    result = answer(problems, len(checks))
    logger.info("Smoke test", extra={"stage": event.get("stage"), "checked": len(checks),
                                     "hookStatus": result["hookStatus"], "reason": result["reason"]})
    return result
