"""The README's first command from a clean copy of the project, on a stock OS Python that refuses
system-wide installs (PEP 668), as a new user runs it: `python3 deploy.py`, then `python3 deploy.py down`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / os.environ.get("WHEELS", ".build/wheels") / "local"
QUICK_START_PORTS = (4566, 9000, 8000, 8080)  # the sandbox's defaults: the quick start passes no flag
pytestmark = pytest.mark.sandbox


def stock_python() -> str:
    """The OS's own Python where it is externally managed (Debian/Ubuntu), else the one this venv came from."""
    candidate = Path("/usr/bin/python3")
    if candidate.exists():
        stdlib = subprocess.run([str(candidate), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                capture_output=True, text=True, check=True).stdout.strip()
        if (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
            return str(candidate)
    return str(getattr(sys, "_base_executable", sys.executable))


def taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.3)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def clean_copy(destination: Path) -> Path:
    """What a clone holds: the tracked files, and new ones not ignored (no .venv, no .build, no .sandbox)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],  # noqa: S607 - git on PATH
                            cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            (destination / name).write_bytes(source.read_bytes())
    return destination


def test_the_first_command_installs_and_starts_the_sandbox_on_a_stock_python(tmp_path: Path) -> None:
    busy = [port for port in QUICK_START_PORTS if taken(port)]
    if busy:
        pytest.skip(f"ports {busy} are in use (a sandbox of yours?): the quick start needs them")
    assert WHEELS.is_dir(), "the local wheel cache is missing: run `make test`, which builds it"
    clone = clean_copy(tmp_path / "clone")
    python = stock_python()
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("AWS_", "SANDBOX_", "PIP_", "VIRTUAL_ENV", "PYTHON"))}
    # No package index at test time: pip installs from the wheels `make test` downloaded beforehand.
    environment.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELS)})
    first = subprocess.run([python, "deploy.py"], cwd=clone, env=environment, capture_output=True, text=True,
                           timeout=900, check=False)
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        assert "creating a virtual environment" in first.stderr and (clone / ".venv").is_dir()
        assert "Deployed." in first.stdout and "Next: python3 deploy.py release" in first.stdout
        with urllib.request.urlopen("http://127.0.0.1:8000/version", timeout=5) as response:
            assert b"v1" in response.read()
    finally:
        down = subprocess.run([python, "deploy.py", "down"], cwd=clone, env=environment, capture_output=True,
                              text=True, timeout=120, check=False)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    assert not any(taken(port) for port in QUICK_START_PORTS)
