"""Runs one Lambda invocation in a fresh interpreter (see `lambda_runtime._run_in_subprocess`).

Reads {"event", "principal"} on stdin (the principal: the function's role and its policies, which every
AWS call the handler makes is authorized against, see `sandbox.iam.enforce`); prints one JSON line
{"payload": ..., "errored": ...} last on stdout.
The handler's own output (its logs) goes to stderr, as Lambda's would go to CloudWatch Logs.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections import Counter
from importlib import import_module
from typing import Any


def count_api_calls() -> Counter[str]:
    """Every AWS API call the handler makes, as "service:Operation" (the benchmarks' cost per release)."""
    from botocore.client import BaseClient

    calls: Counter[str] = Counter()
    make_api_call = BaseClient._make_api_call  # type: ignore[attr-defined]

    def counted(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        calls[f"{self.meta.service_model.service_name}:{operation_name}"] += 1
        return make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = counted  # type: ignore[attr-defined]
    return calls


def main() -> None:
    from sandbox.iam import enforce
    from sandbox.lambda_context import LocalContext

    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # logs go where Lambda's logs go; stdout carries only the result
    module_name, handler_name = os.environ["LAMBDA_HANDLER"].rsplit(".", 1)
    context = LocalContext(os.environ["LAMBDA_FUNCTION_NAME"], os.environ["LAMBDA_FUNCTION_ARN"],
                           int(os.environ["LAMBDA_MEMORY"]), int(os.environ["LAMBDA_TIMEOUT"]))
    request = json.loads(sys.stdin.read())
    # every call this process makes, the handler's import and its threads included, acts as the function's role
    enforce.install(process_principal=enforce.Principal.from_json(request["principal"]))
    calls = count_api_calls()
    started = time.perf_counter()
    try:
        event = json.loads(request["event"] or "{}")
        handler = getattr(import_module(module_name), handler_name)
        started = time.perf_counter()  # what Lambda bills for a warm invocation: the handler, not the import
        result = {"payload": json.dumps(handler(event, context)), "errored": False}
    except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports it
        traceback.print_exc()
        result = {"payload": json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}),
                  "errored": True, "errorType": type(exc).__name__}
    result["handlerSeconds"] = time.perf_counter() - started
    result["calls"] = dict(calls)
    real_stdout.write(json.dumps(result) + "\n")
    real_stdout.flush()


if __name__ == "__main__":
    main()
