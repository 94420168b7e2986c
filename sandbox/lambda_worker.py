"""The process side of the sandbox's Lambda runtime (`sandbox.lambda_runtime` is the server side).

Two ways to run, one invocation loop:

- `python -m sandbox.lambda_worker`: one invocation in a fresh interpreter (the `fresh` runtime). Reads
  {"event", "principal"} on stdin and prints one JSON result line last on stdout; the handler's logs go to
  stderr, as Lambda's go to CloudWatch Logs.
- `python -m sandbox.lambda_worker --zygote FD`: the `warm` runtime's template process. It imports what every
  handler imports (boto3, Powertools) once, then forks one execution environment per request received on the
  control socket FD. An environment imports its handler (the init phase), then serves invocations on its own
  socket, keeping module state between them as Lambda does, until the socket closes or it is killed.

The principal (the function's role and its policies; every AWS call the handler makes is authorized against
it, see `sandbox.iam.enforce`) comes with each invocation: a policy changed meanwhile applies at once, as IAM's
does.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from importlib import import_module
from typing import Any

from sandbox.lambda_context import LocalContext  # no moto: cheap to load in every process

# what every handler imports before its own code: loaded once by the zygote and shared by its forks
PRELOAD = ("boto3", "botocore.session", "aws_lambda_powertools", "aws_lambda_powertools.logging",
           "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.typing",
           "sandbox.iam.enforce", "sandbox.lambda_context")


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


def failure(exc: BaseException) -> dict[str, Any]:
    """An error the way Lambda reports it: the state machine's Retry and Catch match the class name."""
    traceback.print_exception(exc)
    name = type(exc).__name__
    return {"payload": json.dumps({"errorType": name, "errorMessage": str(exc)}), "errored": True, "errorType": name}


def invoke(handler: Callable[[Any, Any], Any], event_text: str, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"payload": json.dumps(handler(json.loads(event_text or "{}"), context)), "errored": False}
    except Exception as exc:  # noqa: BLE001 - reported the way Lambda reports it
        result = failure(exc)
    result["handlerSeconds"] = time.perf_counter() - started
    return result


def context_from(environ: dict[str, str]) -> LocalContext:
    return LocalContext(environ["LAMBDA_FUNCTION_NAME"], environ["LAMBDA_FUNCTION_ARN"],
                        int(environ["LAMBDA_MEMORY"]), int(environ["LAMBDA_TIMEOUT"]))


def load_handler() -> Callable[[Any, Any], Any]:
    module_name, handler_name = os.environ["LAMBDA_HANDLER"].rsplit(".", 1)
    return getattr(import_module(module_name), handler_name)  # type: ignore[no-any-return]


def run_once() -> None:
    """The fresh runtime: one invocation, then the process ends."""
    from sandbox.iam import enforce

    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # logs go where Lambda's logs go; stdout carries only the result
    request = json.loads(sys.stdin.read())
    # every call this process makes, the handler's import and its threads included, acts as the function's role
    enforce.install(process_principal=enforce.Principal.from_json(request["principal"]))
    calls = count_api_calls()
    started = time.perf_counter()
    try:
        handler = load_handler()
    except Exception as exc:  # noqa: BLE001 - an import error is the invocation's error
        result = failure(exc)
        result["handlerSeconds"] = 0.0
    else:
        result = invoke(handler, request["event"], context_from(dict(os.environ)))
    result["initSeconds"] = time.perf_counter() - started - result["handlerSeconds"]
    result["calls"] = dict(calls)
    real_stdout.write(json.dumps(result) + "\n")
    real_stdout.flush()


class InvocationLog(io.TextIOBase):
    """sys.stdout and sys.stderr of an environment: each line the handler writes goes to the sandbox at once,
    as Lambda streams logs, so that an invocation that times out or crashes still has them."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send, self._partial = send, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            self._send({"log": "\n".join(lines) + "\n"})
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._send({"log": self._partial})
            self._partial = ""


def die_with_parent() -> None:
    """Linux: have the kernel kill this process when its parent (the zygote, single-threaded) ends."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def serve_environment(channel: socket.socket) -> None:
    """One execution environment: its spec, then one invocation per line, until the channel closes."""
    stream = channel.makefile("rwb")
    sending = threading.Lock()  # the handler's threads write logs while the result is sent

    def send(frame: dict[str, Any]) -> None:
        with sending:
            stream.write(json.dumps(frame).encode() + b"\n")
            stream.flush()

    spec = json.loads(stream.readline())
    os.environ.clear()
    os.environ.update(spec["environment"])
    sys.path.insert(0, spec["codeDir"])
    log = InvocationLog(send)
    sys.stdout = sys.stderr = log

    from sandbox.iam import enforce

    enforce.install()
    calls = count_api_calls()
    context = context_from(spec["environment"])
    handler: Callable[[Any, Any], Any] | None = None
    for line in stream:
        request = json.loads(line)
        request_id = request["requestId"]
        enforce.install(process_principal=enforce.Principal.from_json(request["principal"]))
        calls.clear()
        print(f"START RequestId: {request_id} Version: $LATEST")
        init_seconds = None
        if handler is None:
            started = time.perf_counter()
            try:
                handler = load_handler()
            except Exception as exc:  # noqa: BLE001 - Lambda runs the init again in a new environment
                result = failure(exc) | {"handlerSeconds": 0.0, "initFailed": True}
            init_seconds = time.perf_counter() - started
        if handler is not None:
            context.aws_request_id = request_id
            result = invoke(handler, request["event"], context)
        print(f"END RequestId: {request_id}")
        print(f"REPORT RequestId: {request_id}\tDuration: {result['handlerSeconds'] * 1000:.2f} ms\t"
              f"Memory Size: {context.memory_limit_in_mb} MB"
              + (f"\tInit Duration: {init_seconds * 1000:.2f} ms" if init_seconds is not None else ""))
        log.flush()
        send({"result": result | {"initSeconds": init_seconds, "calls": dict(calls), "pid": os.getpid()}})
        if result.get("initFailed"):
            return


def zygote(control: socket.socket) -> None:
    """Fork an environment for each socket received; answer each with the environment's process id. Ends when
    the sandbox's end of `control` closes (and its environments with it)."""
    for module in PRELOAD:
        import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # environments are reaped by the kernel, not waited for
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            return
        if not fds:
            return  # the sandbox is gone
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            control.close()
            os.setsid()  # its own process group: a timeout kills whatever the handler started too
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            die_with_parent()
            if os.getppid() != parent:  # the zygote ended before the line above took effect
                os._exit(1)
            code = 0
            try:
                serve_environment(socket.socket(fileno=fds[0]))
            except BaseException:  # noqa: BLE001 - an environment that breaks ends; the sandbox sees its socket close
                code = 1
            os._exit(code)
        os.close(fds[0])
        control.sendall(pid.to_bytes(8, "big"))


def main() -> None:
    if sys.argv[1:2] == ["--zygote"]:
        zygote(socket.socket(fileno=int(sys.argv[2])))
    else:
        run_once()


if __name__ == "__main__":
    main()
