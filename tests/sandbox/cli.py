"""Driving the tests' own sandbox as a user does: `python3 deploy.py` commands and plain HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The tests' own sandbox: its own state folder and ports, so a sandbox the user has running is left alone.
STATE = ROOT / ".build" / "test-sandbox"
ENDPOINT_PORT, WEB_PORT = 14566, 19000
PRODUCTION, TEST = 18000, 18080
SECOND = (18100, 18101)
WEB = f"http://127.0.0.1:{WEB_PORT}"


def deploy(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "deploy.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env(), check=False)


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SANDBOX_"))},
            "SANDBOX_STATE": str(STATE), "SANDBOX_PORT": str(ENDPOINT_PORT), "SANDBOX_WEB_PORT": str(WEB_PORT)}


def version(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as response:
        return str(json.loads(response.read())["version"])


def status() -> dict[str, Any]:
    result = deploy("status", "--json")
    assert result.returncode == 0, result.stderr
    state: dict[str, Any] = json.loads(result.stdout)
    return state


def inbox() -> list[dict[str, Any]]:
    result = deploy("inbox", "--json")
    assert result.returncode == 0, result.stderr
    messages: list[dict[str, Any]] = json.loads(result.stdout)["messages"]
    return messages


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0
