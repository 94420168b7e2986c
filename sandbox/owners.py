"""Which processes belong to a sandbox: every ECS task it starts carries its state folder in its environment.

A sandbox killed with `kill -9` (or a machine that lost power) cannot stop its tasks; they keep running and
hold their loopback addresses. `deploy.py` finds them by that mark, from the state folder alone, and stops
them: before a new sandbox starts there, and on `down`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

OWNER_VARIABLE = "SANDBOX_STATE_OWNER"
ENDED = ("Z", "X", "x")  # /proc/PID/stat states of a process that has exited


def owner_mark(state: Path) -> str:
    return str(state.resolve())


def process_runs(pid: int) -> bool:
    """Whether `pid` still runs. A process that has ended but is still listed (a zombie waiting for its parent,
    or one the kernel is releasing, state X) runs nothing and holds no port."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ENDED  # the state follows "(name)"
    except OSError:
        return False  # gone between the two looks


def is_server(pid: int, state: Path) -> bool:
    """Whether `pid` is the sandbox server of `state`: after a reboot the recorded pid may be another program's."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"sandbox.server" in argv and str(state).encode() in argv


def owned(state: Path) -> list[int]:
    """The running processes marked as the tasks of the sandbox in `state`."""
    mark = f"{OWNER_VARIABLE}={owner_mark(state)}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or another user's
            continue
        if mark in environment and process_runs(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def stop_owned(state: Path, timeout: float = 5) -> list[int]:
    """Stop the processes marked as the sandbox's tasks (TERM, then KILL after `timeout`); the ones found."""
    found = owned(state)
    for pid in found:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(process_runs(pid) for pid in found) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in found:
        if process_runs(pid):
            _signal(pid, signal.SIGKILL)
    return found


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):  # ended meanwhile
        os.kill(pid, signum)
