"""The one seam for logging and tracing (Powertools; X-Ray stays behind this module).

Tracing runs only where Powertools would trace: inside Lambda, unless POWERTOOLS_TRACE_DISABLED says otherwise.
Everywhere else (tests, the sandbox, SAM local) the handlers get a tracer that does nothing, and the X-Ray SDK,
which Powertools' Tracer loads even to disable itself and which takes about as long to import as boto3, is
never loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger

from .settings import runtime_variables

SERVICE = "ecs-bluegreen-release"
F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=SERVICE)


class Tracing(Protocol):
    """What the handlers use of Powertools' Tracer."""

    def capture_lambda_handler(self, lambda_handler: Any = None, **options: Any) -> Any: ...

    def capture_method(self, method: Any = None, **options: Any) -> Any: ...


class Untraced:
    """The Tracer's decorators, doing nothing."""

    def capture_lambda_handler(self, lambda_handler: F | None = None, **_: Any) -> Any:
        return lambda_handler if lambda_handler is not None else (lambda handler: handler)

    def capture_method(self, method: F | None = None, **_: Any) -> Any:
        return method if method is not None else (lambda function: function)


def tracing_on(environ: Mapping[str, str]) -> bool:
    """Powertools' own rule: in Lambda (LAMBDA_TASK_ROOT), not SAM or Chalice local, not disabled by variable."""
    disabled = environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "on", "yes", "y")
    local = environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE")
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not local and not disabled


def _tracer() -> Tracing:
    if not tracing_on(runtime_variables()):
        return Untraced()
    from aws_lambda_powertools import Tracer

    return cast(Tracing, Tracer(service=SERVICE))  # its overloads are narrower than the Protocol's shape


tracer = _tracer()
