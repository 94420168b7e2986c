"""Running Lambda functions without Docker: moto's `_invoke_lambda` replaced by a local runtime.

The function's own deployed zip is unpacked and its handler runs with the function's environment
variables. Errors come back as Lambda reports them ({"errorType", "errorMessage"} with
FunctionError set), so the state machine's Retry/Catch see the exception's class name.

The sandbox runs each invocation in a process of its own, with the function's timeout enforced: in a warm
execution environment kept between invocations as Lambda keeps them (`warm`, the default, see
`lambda_environments`), or in a fresh interpreter every time (`fresh`; SANDBOX_LAMBDA_RUNTIME=fresh).

In-process mode (tests) costs ~milliseconds per call but does not enforce the timeout and shares
one interpreter, so invocations are serialised and every function must come from the same code.
It never touches os.environ (other threads read it meanwhile): the function's own variables are
given to its handler through `release.settings`; libraries' variables (AWS_*, POWERTOOLS_*) are
the test process's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from importlib import import_module
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction

from sandbox import lambda_environments
from sandbox.iam import enforce
from sandbox.lambda_context import LocalContext

_lock = threading.RLock()
_code_root = Path(tempfile.gettempdir()) / "ecs-bluegreen-lambda-code"
_active_code: str | None = None
_installed = False
# per invocation (subprocess runtimes): function name, error type, wall seconds, cold or warm, init and handler
# seconds, AWS API calls; for tests and benchmarks, served by the sandbox at /metrics.json
INVOCATIONS: list[dict[str, Any]] = []


def unpack(code_bytes: bytes) -> Path:
    """Unpack a deployment package once per content hash."""
    digest = hashlib.sha256(code_bytes).hexdigest()[:16]
    target = _code_root / digest
    if not target.exists():
        staging = Path(tempfile.mkdtemp(dir=_code_root.parent if _code_root.exists() else None))
        with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
            archive.extractall(staging)
        _code_root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # another process unpacked it first
            staging.rename(target)
    return target


def _run_in_process(function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
    global _active_code
    code_dir = str(unpack(function.code_bytes))
    with _lock:
        if _active_code is None:
            sys.path.insert(0, code_dir)
            _active_code = code_dir
        module_name, handler_name = str(function.handler).rsplit(".", 1)
        # The function's variables reach its handler through `release.settings`, for this thread only:
        # os.environ is shared with every other thread (tests, other invocations) and is never changed here.
        from release.settings import invocation_settings  # now importable: the very module the handler uses
        variables = {k: str(v) for k, v in (function.environment_vars or {}).items()}
        started = time.perf_counter()
        error_type = None
        try:
            with invocation_settings(variables), enforce.acting_as(_principal(function)):
                handler = getattr(import_module(module_name), handler_name)
                payload = event if not isinstance(event, str) else json.loads(event or "{}")
                context = LocalContext(function.function_name, function.function_arn, int(function.memory_size),
                                       int(function.timeout))
                result = json.dumps(handler(payload, context))
            errored = False
        except Exception as exc:  # noqa: BLE001 - every error is reported the way Lambda reports it
            error_type = type(exc).__name__
            result = json.dumps({"errorType": error_type, "errorMessage": str(exc),
                                 "stackTrace": traceback.format_exception(exc)[-5:]})
            errored = True
        finally:
            INVOCATIONS.append({"function": function.function_name, "error": error_type,
                                "seconds": time.perf_counter() - started})
    return result, errored, ""


def _principal(function: LambdaFunction) -> enforce.Principal:
    """The function's execution role as deployed: every call its handler makes is authorized against it."""
    return enforce.principal_of(str(function.role), function.function_name)


def _run_in_subprocess(function: LambdaFunction, event: Any, endpoint_url: str) -> tuple[str, bool, str]:
    """The `fresh` runtime: a new interpreter per invocation (every invocation a cold start)."""
    import subprocess

    code_dir = unpack(function.code_bytes)
    payload = json.dumps({"event": _event_text(event), "principal": _principal(function).to_json()})
    environment = {**lambda_environments.function_environment(function, endpoint_url), "PYTHONPATH": str(code_dir)}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "sandbox.lambda_worker"], input=payload.encode(),
                              capture_output=True, env=environment, timeout=int(function.timeout),
                              cwd=str(Path(__file__).resolve().parent.parent), check=False)
    except subprocess.TimeoutExpired:
        _record(function, {"errorType": TIMED_OUT}, started, cold=True)
        return timed_out(function), True, ""
    logs = done.stderr.decode(errors="replace")
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    result = json.loads(lines[-1]) if lines else _exited(done.returncode)
    _record(function, result, started, cold=True)
    return str(result["payload"]), bool(result["errored"]), logs


def _run_warm(function: LambdaFunction, event: Any, endpoint_url: str) -> tuple[str, bool, str]:
    """The `warm` runtime: an execution environment kept between invocations (see `lambda_environments`)."""
    version = lambda_environments.Version.of(function, unpack(function.code_bytes), endpoint_url)
    started = time.perf_counter()
    pool = _pool()
    try:
        environment = pool.acquire(version)
    except lambda_environments.Throttled as exc:
        _record(function, {"errorType": THROTTLED}, started, cold=False)
        return json.dumps({"errorType": THROTTLED, "errorMessage": f"Rate Exceeded. {exc}"}), True, ""
    except lambda_environments.EnvironmentGone as exc:
        result = _exited(None, str(exc))
        _record(function, result, started, cold=True)
        return str(result["payload"]), True, ""
    cold = not environment.initialised
    reusable = False
    try:
        # the function's timeout runs from the request; waiting for a free environment is not the handler's time
        result = environment.invoke(_event_text(event), _principal(function).to_json(), timeout=version.timeout)
        reusable = not result.get("initFailed")
    except lambda_environments.InvocationTimedOut as exc:
        _record(function, {"errorType": TIMED_OUT}, started, cold=cold)
        return timed_out(function), True, exc.logs
    except lambda_environments.EnvironmentGone as exc:
        result = _exited(None) | {"logs": exc.logs}
    finally:
        pool.release(environment, reusable)
    _record(function, result, started, cold=cold)
    return str(result["payload"]), bool(result["errored"]), str(result.get("logs", ""))


def _event_text(event: Any) -> str:
    return event if isinstance(event, str) else json.dumps(event)


def _exited(code: int | None, how: str = "") -> dict[str, Any]:
    how = how or (f"the handler process exited with {code}" if code is not None
                  else "the handler process ended during the invocation")
    return {"errored": True, "errorType": "Runtime.ExitError", "payload": json.dumps(
        {"errorType": "Runtime.ExitError", "errorMessage": how})}


def _record(function: LambdaFunction, result: dict[str, Any], started: float, cold: bool) -> None:
    """One line of /metrics.json: the invocation's wall time, whether it was a cold start, its init and handler
    time, and the AWS calls it made."""
    INVOCATIONS.append({"function": function.function_name, "error": result.get("errorType"),
                        "seconds": time.perf_counter() - started, "cold": cold,
                        "initSeconds": result.get("initSeconds"), "handlerSeconds": result.get("handlerSeconds"),
                        "calls": result.get("calls", {})})


TIMED_OUT = "Sandbox.Timedout"
THROTTLED = "Lambda.TooManyRequestsException"  # what Step Functions names a throttled invocation


def timed_out(function: LambdaFunction) -> str:
    """What Lambda returns for an invocation that ran out of time (the process is gone, so is its result)."""
    return json.dumps({"errorType": TIMED_OUT, "errorMessage": f"Task timed out after {function.timeout} seconds"})


_runtime_pool: lambda_environments.Pool | None = None


def _pool() -> lambda_environments.Pool:
    """The environments of this process's runtime; once shut down, it starts none again."""
    global _runtime_pool
    with _lock:
        if _runtime_pool is None:
            _runtime_pool = lambda_environments.Pool()
        return _runtime_pool


RUNTIMES = {"warm": _run_warm, "fresh": _run_in_subprocess}


def install_subprocess(endpoint_url: str, runtime: str = "warm") -> None:
    """Invocations run in processes of their own: `warm` environments kept between invocations, as Lambda
    does, or a `fresh` interpreter for each one."""
    global _installed
    run = RUNTIMES[runtime]
    with _lock:
        if _installed:
            return

        def invoke(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return run(self, event, endpoint_url)

        LambdaFunction._invoke_lambda = invoke  # type: ignore[method-assign]
        enforce.install()
        enforce.install_state_machines()
        _installed = True


def shutdown() -> None:
    """Kill every execution environment (the sandbox is stopping); later invocations fail, starting none."""
    _pool().shutdown()


def reset() -> None:
    """Kill every execution environment and start afresh (tests: one pool each)."""
    global _runtime_pool
    with _lock:
        pool, _runtime_pool = _runtime_pool, None
    if pool is not None:
        pool.shutdown()


def install_in_process() -> None:
    global _installed
    with _lock:
        if _installed:
            return

        def invoke(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return _run_in_process(self, event)

        LambdaFunction._invoke_lambda = invoke  # type: ignore[method-assign]
        enforce.install()
        enforce.install_state_machines()
        _installed = True
