"""Warm execution environments, as Lambda keeps them (the sandbox's default Lambda runtime).

An invocation reuses an idle environment of the same function version (a warm start), or forks a new one
from the zygote (a cold start: the handler's module is imported, its init, before the first invocation).
Several invocations at once get several environments, up to the function's reserved concurrency or
`PER_FUNCTION`, and up to `TOTAL` in all; beyond that an invocation waits for one to be free (where Lambda
would throttle it), the least recently used idle environment of another function giving way. Reserved
concurrency 0 throttles every invocation, as on Lambda. An environment is never reused after its function's
code or configuration changed, after an invocation ran out of the function's timeout (it is killed, with
whatever it started), or after its process died. Idle environments are reaped after `IDLE_SECONDS`, and
`shutdown` (the sandbox stopping) kills every one; an environment also dies with the zygote, and the zygote
ends when the sandbox's end of its socket closes, so a sandbox that was killed leaves none behind either.

The zygote has boto3 and Powertools imported already, so a cold start here costs the fork and the handler's
own import, not a whole interpreter: much like Lambda SnapStart resuming from a snapshot taken after init.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PER_FUNCTION = int(os.environ.get("SANDBOX_LAMBDA_PER_FUNCTION", "10"))
TOTAL = int(os.environ.get("SANDBOX_LAMBDA_MAX_ENVIRONMENTS", "200"))
IDLE_SECONDS = float(os.environ.get("SANDBOX_LAMBDA_IDLE_SECONDS", "600"))
ZYGOTE_ANSWER_SECONDS = 30.0  # it imports boto3 and Powertools first
ROOT = Path(__file__).resolve().parent.parent


class EnvironmentGone(Exception):
    """The environment's process ended during an invocation, or no environment could be started."""

    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


class InvocationTimedOut(Exception):
    """The invocation outlived the function's timeout; its environment is to be killed."""

    def __init__(self, logs: str) -> None:
        super().__init__("timed out")
        self.logs = logs


class Throttled(Exception):
    """The function's reserved concurrency is 0: Lambda runs none of its invocations."""


def function_environment(function: Any, endpoint_url: str) -> dict[str, str]:
    """The variables a handler's process runs with: the function's own, and the sandbox's AWS endpoint with
    credentials that only it accepts (every runtime, warm or fresh)."""
    return {
        "PATH": os.environ.get("PATH", ""), "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region, "POWERTOOLS_TRACE_DISABLED": "true",
        "LAMBDA_HANDLER": str(function.handler), "LAMBDA_FUNCTION_NAME": function.function_name,
        "LAMBDA_FUNCTION_ARN": function.function_arn, "LAMBDA_MEMORY": str(function.memory_size),
        "LAMBDA_TIMEOUT": str(function.timeout),
        **{k: str(v) for k, v in (function.environment_vars or {}).items()},
    }


@dataclass(frozen=True)
class Version:
    """What an environment was started from: any change to it means a new environment."""

    arn: str
    identity: str
    environment: dict[str, str] = field(compare=False, hash=False)
    code_dir: str = field(compare=False, hash=False)
    timeout: int = field(compare=False, hash=False)
    concurrency: int = field(compare=False, hash=False)

    @classmethod
    def of(cls, function: Any, code_dir: Path, endpoint_url: str) -> Version:
        environment = function_environment(function, endpoint_url)
        identity = hashlib.sha256(json.dumps(
            [str(code_dir), environment, str(function.role), str(function.run_time)], sort_keys=True).encode())
        reserved = function.reserved_concurrency
        concurrency = PER_FUNCTION if reserved is None else min(int(reserved), PER_FUNCTION)
        return cls(function.function_arn, identity.hexdigest(), environment, str(code_dir), int(function.timeout),
                   concurrency)


class Environment:
    """One forked process serving one function version's invocations over its own socket.

    It answers each invocation with JSON lines: {"log": text} as the handler writes, then {"result": {...}}.
    """

    def __init__(self, version: Version, channel: socket.socket, pid: int) -> None:
        self.version, self.channel, self.pid = version, channel, pid
        self.stream = channel.makefile("rwb")
        self.idle_since = time.monotonic()
        self.initialised = False

    def invoke(self, event: str, principal: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one invocation (its logs in "logs"); InvocationTimedOut past `timeout`, EnvironmentGone when the
        process ends first."""
        request_id = str(uuid.uuid4())
        logs: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            self.stream.write(json.dumps({"event": event, "principal": principal,
                                          "requestId": request_id}).encode() + b"\n")
            self.stream.flush()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.channel.settimeout(remaining)
                line = self.stream.readline()
                if not line:
                    raise EnvironmentGone("the environment's process ended", "".join(logs))
                frame = json.loads(line)
                if "log" in frame:
                    logs.append(str(frame["log"]))
                    continue
                self.initialised = True
                return {**frame["result"], "logs": "".join(logs)}
        except TimeoutError as exc:
            logs.append(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} Task timed out after "
                        f"{self.version.timeout:.2f} seconds\nEND RequestId: {request_id}\n"
                        f"REPORT RequestId: {request_id}\tDuration: {timeout * 1000:.2f} ms\tStatus: timeout\n")
            raise InvocationTimedOut("".join(logs)) from exc
        except (OSError, ValueError) as exc:  # the socket broke or was closed: the process is gone or going
            raise EnvironmentGone(f"the environment's process ended ({exc})", "".join(logs)) from exc

    def alive(self) -> bool:
        """Whether an idle environment's process is still there: its end of the socket is not closed."""
        try:
            self.channel.settimeout(0)
            return self.channel.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            return True  # nothing to read: the usual idle state
        except OSError:
            return False

    def kill(self) -> None:
        """Kill the environment, with whatever it started, and wait until it is gone: a timed-out handler
        must not act after its retry began."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.channel.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked on the socket
        with contextlib.suppress(OSError, ValueError):
            self.stream.close()
        with contextlib.suppress(OSError):
            self.channel.close()
        _wait_gone(self.pid, 5.0)


def _wait_gone(pid: int, timeout: float) -> None:
    """Until `pid` has ended (a zombie counts: it runs nothing), or `timeout` passed."""
    try:
        descriptor = os.pidfd_open(pid)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        descriptor = None
    if descriptor is not None:
        try:
            select.select([descriptor], [], [], timeout)
        finally:
            os.close(descriptor)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.005)


class Zygote:
    """The template process environments are forked from (`sandbox.lambda_worker --zygote`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._stopped = False

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "sandbox.lambda_worker", "--zygote", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), cwd=ROOT, stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", ""), "POWERTOOLS_TRACE_DISABLED": "true"})
        theirs.close()
        ours.settimeout(ZYGOTE_ANSWER_SECONDS)
        self._control = ours

    def fork(self, version: Version) -> Environment:
        with self._lock:
            for attempt in (1, 2):  # a zygote that died is started again once
                if self._stopped:
                    raise EnvironmentGone("the sandbox is stopping")
                ours, theirs = socket.socketpair()  # a new pair each time: a half-done fork keeps the other
                if self._control is None or not self._alive():
                    self._stop()  # a zygote that died: its socket closed and its process reaped first
                    self._start()
                control = self._control
                assert control is not None
                answer = b""
                try:
                    socket.send_fds(control, [b"F"], [theirs.fileno()])
                    while len(answer) < 8:
                        part = control.recv(8 - len(answer))
                        if not part:
                            break
                        answer += part
                except OSError:
                    pass
                theirs.close()
                if len(answer) == 8:
                    break
                ours.close()
                self._stop()
                if attempt == 2:
                    raise EnvironmentGone("The sandbox could not start a Lambda execution environment (its template "
                                          "process did not answer); see the sandbox's server.out and server.log.")
        environment = Environment(version, ours, int.from_bytes(answer, "big"))
        try:
            environment.stream.write(json.dumps({"environment": version.environment,
                                                 "codeDir": version.code_dir}).encode() + b"\n")
            environment.stream.flush()
        except (OSError, ValueError) as exc:
            environment.kill()
            raise EnvironmentGone(f"the new environment ended at once ({exc})") from exc
        return environment

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _stop(self) -> None:
        """Stop the zygote; its environments die with it (each has asked to)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._stop()


class Pool:
    """Every function's environments: which are idle, how many are busy, and the caps."""

    def __init__(self, total: int = TOTAL, idle_seconds: float = IDLE_SECONDS) -> None:
        self.total, self.idle_seconds = total, idle_seconds
        self.zygote = Zygote()
        self._changed = threading.Condition()
        self._idle: dict[str, list[Environment]] = {}
        self._busy: dict[str, int] = {}  # per function: environments running an invocation or being started
        self._running: set[Environment] = set()
        self._closed = False
        self._reaper: threading.Thread | None = None

    def __len__(self) -> int:
        with self._changed:
            return len(self._all_idle()) + sum(self._busy.values())

    def pids(self) -> list[int]:
        with self._changed:
            return [e.pid for e in [*self._all_idle(), *self._running]]

    def acquire(self, version: Version) -> Environment:
        """A warm environment of `version` if one is idle, else a new one (cold) once the caps allow."""
        if version.concurrency <= 0:
            raise Throttled(f"{version.arn} has a reserved concurrency of 0")
        doomed: list[Environment] = []
        try:
            with self._changed:
                self._start_reaper()
                while True:
                    if self._closed:
                        raise EnvironmentGone("the sandbox is stopping")
                    idle = self._idle.setdefault(version.arn, [])
                    for stale in [e for e in idle if e.version != version]:  # code or configuration changed
                        idle.remove(stale)
                        doomed.append(stale)
                    busy = self._busy.get(version.arn, 0)
                    while idle:
                        warm = idle.pop()  # the most recently used, as Lambda prefers
                        if not warm.alive():  # it died while idle (with the zygote, say)
                            doomed.append(warm)
                            continue
                        self._busy[version.arn] = busy + 1
                        self._running.add(warm)
                        return warm
                    if busy < version.concurrency:
                        if len(self._all_idle()) + sum(self._busy.values()) < self.total:
                            self._busy[version.arn] = busy + 1
                            break
                        oldest = min(self._all_idle(), key=lambda e: e.idle_since, default=None)
                        if oldest is not None:  # another function's idle environment gives way
                            self._idle[oldest.version.arn].remove(oldest)
                            doomed.append(oldest)
                            continue
                    self._changed.wait()
        finally:
            for environment in doomed:  # outside the lock: a kill waits for the process to end
                environment.kill()
        try:
            cold = self.zygote.fork(version)
        except BaseException:
            self._release(version.arn)
            raise
        with self._changed:
            closed = self._closed
            if not closed:
                self._running.add(cold)
        if closed:
            cold.kill()
            self._release(version.arn)
            raise EnvironmentGone("the sandbox is stopping")
        return cold

    def release(self, environment: Environment, reusable: bool) -> None:
        """An invocation ended: keep its environment for the next one, or kill it."""
        with self._changed:
            self._running.discard(environment)
            keep = reusable and not self._closed
            if keep:
                environment.idle_since = time.monotonic()
                self._idle.setdefault(environment.version.arn, []).append(environment)
        if not keep:
            environment.kill()
        self._release(environment.version.arn)

    def _release(self, arn: str) -> None:
        with self._changed:
            self._busy[arn] -= 1
            self._changed.notify_all()

    def _all_idle(self) -> list[Environment]:
        return [e for idle in self._idle.values() for e in idle]

    def reap(self) -> int:
        """Kill the environments idle for longer than `idle_seconds`; how many there were."""
        cutoff = time.monotonic() - self.idle_seconds
        with self._changed:
            old = [e for e in self._all_idle() if e.idle_since < cutoff]
            for environment in old:
                self._idle[environment.version.arn].remove(environment)
            self._changed.notify_all()
        for environment in old:
            environment.kill()
        return len(old)

    def _start_reaper(self) -> None:
        if self._reaper is None:
            def run() -> None:
                while not self._closed:
                    time.sleep(max(0.5, min(5.0, self.idle_seconds / 2)))
                    self.reap()

            self._reaper = threading.Thread(target=run, name="lambda-reaper", daemon=True)
            self._reaper.start()

    def shutdown(self) -> None:
        """Kill every environment and the zygote. Invocations still running end as their process does; none
        starts after this."""
        with self._changed:
            self._closed = True
            doomed = [*self._all_idle(), *self._running]
            self._idle.clear()
            self._changed.notify_all()
        for environment in doomed:  # first, while the zygote is there to reap them
            environment.kill()
        self.zygote.stop()
