"""Starting, finding and stopping the sandbox process, from `deploy.py`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer import releases
from deployer.console import Console
from deployer.errors import DeployError
from deployer.settings import Settings
from deployer.target import Target

from . import statefile
from .owners import is_server, process_runs, stop_owned

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("SANDBOX_STATE", ROOT / ".sandbox"))
PORT = int(os.environ.get("SANDBOX_PORT", "4566"))
WEB_PORT = int(os.environ.get("SANDBOX_WEB_PORT", "9000"))
LAMBDA_RUNTIMES = ("warm", "fresh")  # sandbox.lambda_runtime.RUNTIMES, named here without importing moto


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    endpoint: str
    web_url: str
    lambda_runtime: str = "warm"


def running() -> SandboxInfo | None:
    """The running sandbox, if its process is alive and answers."""
    try:
        data = json.loads((STATE / "server.json").read_text())
    except (OSError, ValueError):
        return None
    info = SandboxInfo(int(data["pid"]), data["endpoint"], data["web_url"], data.get("lambdaRuntime", "warm"))
    if not process_runs(info.pid):
        return None
    try:
        urllib.request.urlopen(f"{info.endpoint}/moto-api/", timeout=2).close()  # noqa: S310 - loopback
    except OSError:
        return None
    return info


def require_running() -> SandboxInfo:
    info = running()
    if info is None:
        raise DeployError("The sandbox is not running. Start it with `python3 deploy.py`.")
    return info


def ensure_running(console: Console, timeout: float = 30) -> SandboxInfo:
    runtime = os.environ.get("SANDBOX_LAMBDA_RUNTIME", "warm")
    if runtime not in LAMBDA_RUNTIMES:
        raise DeployError(f"SANDBOX_LAMBDA_RUNTIME={runtime!r} is not a Lambda runtime of the sandbox: use "
                          f"{' or '.join(LAMBDA_RUNTIMES)}, or leave it unset for warm.")
    info = running()
    if info:
        if "SANDBOX_LAMBDA_RUNTIME" in os.environ and info.lambda_runtime != runtime:
            raise DeployError(f"The running sandbox uses the {info.lambda_runtime} Lambda runtime, not {runtime}. "
                              "Run `python3 deploy.py down` first to start it again with another.")
        console.step(f"reusing the sandbox at {info.endpoint} (pid {info.pid})")
        return info
    for port in (PORT, WEB_PORT):
        if not port_free(port):
            raise DeployError(f"Port {port} is taken by another program, so the sandbox cannot start. Free it, or "
                              "set SANDBOX_PORT / SANDBOX_WEB_PORT to free ports.")
    try:  # before anything changes: a state this version cannot load is refused, and left as it is
        saved = statefile.read(STATE)
    except statefile.StateFileError as exc:
        raise DeployError(str(exc)) from None
    _after_a_crash(console, saved[0] if saved else None)
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "server.json").unlink(missing_ok=True)
    log = (STATE / "server.out").open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "sandbox.server", "--state", str(STATE), "--port", str(PORT),
         "--web-port", str(WEB_PORT)], cwd=ROOT, stdout=log, stderr=log, start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "handlers")])})
    console.step(f"starting the sandbox (local AWS on 127.0.0.1:{PORT}, pid {process.pid})")
    # a restore ends the releases the crash interrupted first, through their functions: give it longer
    deadline = time.monotonic() + (timeout if saved is None else 6 * timeout)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DeployError(f"The sandbox exited at start: {_last_line(STATE / 'server.out')} "
                              f"(see {STATE / 'server.out'} and {STATE / 'server.log'}).")
        info = running()
        if info:
            _say_restored(console, saved[0] if saved else None)
            return info
        time.sleep(0.1)
    raise DeployError(f"The sandbox did not answer within {timeout:.0f} s; see {STATE / 'server.log'}.")


def _after_a_crash(console: Console, saved: statefile.Header | None) -> None:
    """A sandbox that ended without `down` (killed, or the machine went down): say so, and stop the tasks it left,
    which would hold the addresses the new sandbox's tasks take."""
    previous = _recorded_pid()
    if previous is None:
        return
    left = stop_owned(STATE)
    kept = (f"its state saved at {time.strftime('%H:%M:%S', time.localtime(saved.written))} is restored"
            if saved else "it had saved no state, so the sandbox starts afresh")
    console.step(f"the previous sandbox (pid {previous}) ended without `python3 deploy.py down`: stopped "
                 f"{len(left)} task process(es) it left running; {kept}")


def _say_restored(console: Console, saved: statefile.Header | None) -> None:
    if saved is None:
        return
    data = json.loads((STATE / "server.json").read_text())
    console.step(f"restored the sandbox's state ({saved.size / 1e6:.1f} MB, saved at "
                 f"{time.strftime('%H:%M:%S', time.localtime(saved.written))}); its tasks start again")
    for line in data.get("interrupted", []):
        console.step(f"release {line}")
    if data.get("interrupted"):
        console.step("those releases were running when the sandbox stopped; `python3 deploy.py history` shows them")


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


def after_deploy(target_: Target, settings: Settings, info: SandboxInfo, console: Console) -> None:
    """Point the approval links at the sandbox's web front, which stands in for API Gateway."""
    client = target_.client("lambda")
    name = f"{settings.name}-request-approval"
    variables = client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    if variables.get("APPROVAL_URL") != info.web_url:
        client.update_function_configuration(FunctionName=name,
                                             Environment={"Variables": {**variables, "APPROVAL_URL": info.web_url}})
        console.step(f"approval links point at {info.web_url} (the sandbox's API Gateway)")
    _wait_until_serving(target_, settings, console)


def _wait_until_serving(target_: Target, settings: Settings, console: Console, timeout: float = 60) -> None:
    """Until production answers 200 and every live target is healthy (not merely the ALB failing open)."""
    system_ = releases.System.load(target_, settings)  # its ports are the deployed stack's
    url = f"http://127.0.0.1:{system_.production_port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = releases.status(system_)["sides"][0]
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and live["targets"] and live["healthyTargets"] == live["targets"]:
                    console.step(f"production serves at {url} ({live['healthyTargets']} healthy targets)")
                    return
        except OSError:
            pass
        time.sleep(0.3)
    console.step(f"production is not serving yet at {url}; `python3 deploy.py status` shows target health")


def wait_for_repository(path: Path, console: Console, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not (path / ".git").is_dir():
        if time.monotonic() > deadline:
            raise DeployError(f"The sandbox did not create the pipeline's repository {path}; see "
                              f"{STATE / 'server.log'}.")
        time.sleep(0.2)
    console.step(f"the pipeline releases every commit to {path}")


def inbox(info: SandboxInfo) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{info.web_url}/inbox.json", timeout=5) as response:  # noqa: S310 - loopback
        messages: list[dict[str, Any]] = json.loads(response.read())
    return messages


def stop(console: Console, timeout: float = 20) -> bool:
    info = running()
    pid = info.pid if info else _recorded_pid()
    stopped = False
    if pid and process_runs(pid) and is_server(pid, STATE):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_runs(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_runs(pid):
            os.killpg(pid, signal.SIGKILL)
        stopped = True
    # What a sandbox that was killed (or is stopping now) left running: its tasks, found by their mark.
    stopped = bool(stop_owned(STATE)) or stopped
    shutil.rmtree(STATE, ignore_errors=True)
    return stopped


def _recorded_pid() -> int | None:
    try:
        return int(json.loads((STATE / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no owner
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
