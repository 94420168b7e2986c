"""Lambda: take this load balancer's release lock before anything is changed."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from release.gateways.locks import LockStore
from release.gateways.workflow import Workflow
from release.locking import acquire
from release.observability import logger, tracer
from release.settings import setting


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    lock = acquire(LockStore(setting("LOCKS_TABLE")), Workflow(), event["loadBalancerArn"], event["execution"],
                   int(time.time()))
    if lock.took_over_from:
        logger.warning("Took over a stale release lock", extra={"from": lock.took_over_from})
    return {"key": lock.key, "holder": lock.holder, "tookOverFrom": lock.took_over_from}
