"""Warm execution environments, as Lambda keeps them (the sandbox's default Lambda runtime).

An invocation reuses an idle environment of the same function version (a warm start), or forks a new one
from the zygote (a cold start: the handler's module is imported, its init, before the first invocation).
Several invocations at once get several environments, up to the function's reserved concurrency or
`PER_FUNCTION`, and up to `TOTAL` in all; beyond that an invocation waits for one to be free, the least
recently used idle environment of another function giving way. An environment is never reused after its
function's code or configuration changed, after an invocation ran out of the function's timeout (it is
killed, with whatever it started), or after its process died. Idle environments are reaped after
`IDLE_SECONDS`, and `shutdown` (the sandbox stopping) kills every one.

The zygote has boto3 and Powertools imported already, so a cold start here costs the fork and the handler's
own import, not a whole interpreter: much like Lambda SnapStart resuming from a snapshot taken after init.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
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

PER_FUNCTION = int(os.environ.get("SANDBOX_LAMBDA_CONCURRENCY", "10"))
TOTAL = int(os.environ.get("SANDBOX_LAMBDA_ENVIRONMENTS", "200"))
IDLE_SECONDS = float(os.environ.get("SANDBOX_LAMBDA_IDLE_SECONDS", "600"))
ROOT = Path(__file__).resolve().parent.parent


class EnvironmentGone(Exception):
    """The environment's process ended during an invocation."""


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
        environment = {
            "PATH": os.environ.get("PATH", ""), "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_REGION": function.region,
            "AWS_DEFAULT_REGION": function.region, "POWERTOOLS_TRACE_DISABLED": "true",
            "LAMBDA_HANDLER": str(function.handler), "LAMBDA_FUNCTION_NAME": function.function_name,
            "LAMBDA_FUNCTION_ARN": function.function_arn, "LAMBDA_MEMORY": str(function.memory_size),
            "LAMBDA_TIMEOUT": str(function.timeout),
            **{k: str(v) for k, v in (function.environment_vars or {}).items()},
        }
        identity = hashlib.sha256(json.dumps(
            [str(code_dir), environment, str(function.role), str(function.run_time)], sort_keys=True).encode())
        reserved = int(function.reserved_concurrency or 0)
        return cls(function.function_arn, identity.hexdigest(), environment, str(code_dir), int(function.timeout),
                   min(reserved, PER_FUNCTION) if reserved > 0 else PER_FUNCTION)


class Environment:
    """One forked process serving one function version's invocations over its own socket."""

    def __init__(self, version: Version, channel: socket.socket, pid: int) -> None:
        self.version, self.channel, self.pid = version, channel, pid
        self.stream = channel.makefile("rwb")
        self.idle_since = time.monotonic()
        self.initialised = False

    def invoke(self, event: str, principal: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one invocation; TimeoutError when it outlives `timeout`, EnvironmentGone when the process ends."""
        self.channel.settimeout(timeout)
        try:
            self.stream.write(json.dumps({"event": event, "principal": principal,
                                          "requestId": str(uuid.uuid4())}).encode() + b"\n")
            self.stream.flush()
            line = self.stream.readline()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise EnvironmentGone(str(exc)) from exc
        if not line:
            raise EnvironmentGone("the environment's process ended")
        self.initialised = True
        return dict(json.loads(line))

    def kill(self) -> None:
        """Kill the environment and wait until it is gone: a timed-out handler must not act after its retry began."""
        with contextlib.suppress(OSError):
            self.stream.close()
            self.channel.close()
        deadline = time.monotonic() + 5
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
            while time.monotonic() < deadline:  # the zygote ignores SIGCHLD, so the kernel reaps it at once
                os.kill(self.pid, 0)
                time.sleep(0.005)


class Zygote:
    """The template process environments are forked from (`sandbox.lambda_worker --zygote`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        self._process = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "sandbox.lambda_worker", "--zygote", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), cwd=ROOT, stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", ""), "POWERTOOLS_TRACE_DISABLED": "true"})
        theirs.close()
        self._control = ours
        return ours

    def fork(self, version: Version) -> Environment:
        ours, theirs = socket.socketpair()
        with self._lock:
            for attempt in (1, 2):  # a zygote that died is started again once
                control = self._control if self._control is not None and self._alive() else self._start()
                try:
                    socket.send_fds(control, [b"F"], [theirs.fileno()])
                    answer = control.recv(8)
                except OSError:
                    answer = b""
                if len(answer) == 8:
                    break
                self._stop()
                if attempt == 2:
                    ours.close()
                    theirs.close()
                    raise EnvironmentGone("the sandbox's Lambda zygote could not start an environment")
        theirs.close()
        environment = Environment(version, ours, int.from_bytes(answer, "big"))
        environment.stream.write(json.dumps({"environment": version.environment,
                                             "codeDir": version.code_dir}).encode() + b"\n")
        environment.stream.flush()
        return environment

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _stop(self) -> None:
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
            return sum(len(e) for e in self._idle.values()) + sum(self._busy.values())

    def pids(self) -> list[int]:
        with self._changed:
            return [e.pid for e in [*self._all_idle(), *self._running]]

    def acquire(self, version: Version) -> Environment:
        """A warm environment of `version` if one is idle, else a new one (cold) once the caps allow."""
        with self._changed:
            self._start_reaper()
            while True:
                if self._closed:
                    raise EnvironmentGone("the sandbox is stopping")
                idle = self._idle.setdefault(version.arn, [])
                for stale in [e for e in idle if e.version != version]:  # code or configuration changed
                    idle.remove(stale)
                    stale.kill()
                busy = self._busy.get(version.arn, 0)
                if idle:
                    self._busy[version.arn] = busy + 1
                    warm = idle.pop()  # the most recently used, as Lambda prefers
                    self._running.add(warm)
                    return warm
                if busy < version.concurrency:
                    if len(self._all_idle()) + sum(self._busy.values()) < self.total:
                        self._busy[version.arn] = busy + 1
                        break
                    oldest = min(self._all_idle(), key=lambda e: e.idle_since, default=None)
                    if oldest is not None:
                        self._idle[oldest.version.arn].remove(oldest)
                        oldest.kill()
                        continue
                self._changed.wait()
        try:
            cold = self.zygote.fork(version)
        except BaseException:
            self._release(version.arn)
            raise
        with self._changed:
            self._running.add(cold)
            if self._closed:
                cold.kill()
        return cold

    def release(self, environment: Environment, reusable: bool) -> None:
        """An invocation ended: keep its environment for the next one, or kill it."""
        with self._changed:
            self._running.discard(environment)
            if reusable and not self._closed:
                environment.idle_since = time.monotonic()
                self._idle.setdefault(environment.version.arn, []).append(environment)
            else:
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
                environment.kill()
            self._changed.notify_all()
        return len(old)

    def _start_reaper(self) -> None:
        if self._reaper is None:
            def run() -> None:
                while not self._closed:
                    time.sleep(min(5.0, self.idle_seconds / 2))
                    self.reap()

            self._reaper = threading.Thread(target=run, name="lambda-reaper", daemon=True)
            self._reaper.start()

    def shutdown(self) -> None:
        """Kill every environment and the zygote; invocations still running end as their process does."""
        with self._changed:
            self._closed = True
            for environment in [*self._all_idle(), *self._running]:
                environment.kill()
            self._idle.clear()
            self._changed.notify_all()
        self.zygote.stop()
