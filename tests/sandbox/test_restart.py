"""A sandbox that is killed (`kill -9`, as a crash or a power loss would end it) and started again: it comes back
with everything it had, ends the releases it was running as interrupted, and refuses a state it cannot load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import owners, statefile
from tests.sandbox.cli import (
    ENDPOINT_PORT,
    PRODUCTION,
    ROOT,
    STATE,
    TEST,
    WEB_PORT,
    deploy,
    env,
    inbox,
    port_open,
    status,
    version,
)

pytestmark = pytest.mark.sandbox
PORTS = ("--production-port", str(PRODUCTION), "--test-port", str(TEST))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[None]:
    deploy("down")
    started = deploy(*PORTS)
    assert started.returncode == 0, started.stdout + started.stderr
    yield
    deploy("down")


def kill() -> list[int]:
    """`kill -9` of the sandbox's server, after the next snapshot; the task processes it leaves running."""
    time.sleep(1.5)  # the sandbox saves once a second: what the last second changed is lost, as in any crash
    os.kill(json.loads((STATE / "server.json").read_text())["pid"], signal.SIGKILL)
    return owners.owned(STATE)


def restart() -> str:
    result = deploy(*PORTS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def history() -> list[dict[str, Any]]:
    result = deploy("history", "--json")
    assert result.returncode == 0, result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)["releases"]
    return records


def release_in_background(*args: str, output: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """`deploy.py release` left running, as a user's terminal would: the sandbox is killed under it."""
    return subprocess.Popen([sys.executable, str(ROOT / "deploy.py"), "release", *args, "--health-interval", "2"],
                            cwd=ROOT, env=env(), stdout=output, stderr=subprocess.STDOUT, text=True)


def wait_for_step(*steps: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        releases = status()["releases"]
        if releases and releases[0]["step"] in steps:
            return
        time.sleep(0.5)
    raise AssertionError(f"the release never reached {steps}: {status()['releases']}")


def get(url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def live_images() -> list[str]:
    images: list[str] = next(s for s in status()["sides"] if s["role"] == "live")["images"]
    return images


def test_an_approved_release_survives_a_kill(sandbox: None) -> None:
    released = deploy("release", "--image", "sample-app:v2", "--approve", "--health-interval", "2")
    assert released.returncode == 0, released.stdout + released.stderr
    messages = inbox()
    left = kill()
    assert len(left) == 4  # the tasks outlive their sandbox

    said = restart()
    assert "stopped 4 task process(es) it left running; its state saved at" in said
    assert "restored the sandbox's state" in said
    assert not set(owners.owned(STATE)) & set(left)  # the dead sandbox's tasks stopped, new ones serve
    assert version(PRODUCTION) == "v2" and version(TEST) == "v1"
    assert live_images() == ["sample-app:v2"] and status()["releases"] == []
    assert [m["subject"] for m in inbox()] == [m["subject"] for m in messages]  # the inbox, as it was
    record = history()[0]
    assert record["outcome"] == "SUCCEEDED" and record["imagesTo"] == ["sample-app:v2"]
    assert {"health", "approval", "traffic", "bake", "report"} <= set(record["stages"])  # the whole history

    rolled = deploy("rollback")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert version(PRODUCTION) == "v1"


def test_a_release_waiting_for_approval_is_ended_as_interrupted(sandbox: None) -> None:
    waiting = release_in_background("--image", "sample-app:v3", output=subprocess.PIPE)
    try:
        wait_for_step("Ask for approval")
        link = [link for m in inbox() for link in m["links"] if "/approvals/" in link][-1]
        assert get(link)[0] == 200  # the link waits for a decision
        kill()
        said = restart()
        out, _ = waiting.communicate(timeout=120)
    finally:
        waiting.kill()
    name = history()[0]["name"]
    assert f"release {name}: Release of shop-code" in said and "with Sandbox.Interrupted" in said
    assert "those releases were running when the sandbox stopped" in said
    # the release that was waiting says how it ended, through the restart
    assert "Not released (Sandbox.Interrupted)" in out and "'Ask for approval'" in out

    record = history()[0]
    assert record["outcome"] == "ABORTED" and "Sandbox.Interrupted" in record["reason"]
    assert "while waiting for approval" in record["reason"] and "Production is unchanged" in record["reason"]
    assert version(PRODUCTION) == "v1" and live_images() == ["sample-app:v1"]
    told = inbox()[-1]
    assert told["subject"].startswith("Release failed (Sandbox.Interrupted)") and told["to"]
    for answer in (get(link), get(link, urllib.parse.urlencode({"decision": "approve", "name": "Ada"}).encode())):
        assert answer[0] == 410 and "no longer waiting" in answer[1]

    nxt = deploy("release", "--image", "sample-app:v4", "--approve", "--health-interval", "2")
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr  # the lock is free
    assert version(PRODUCTION) == "v4"


def test_a_release_interrupted_while_baking_leaves_production_on_the_approved_version(sandbox: None) -> None:
    baking = release_in_background("--image", "sample-app:v5", "--approve", "--bake", "300")
    try:
        wait_for_step("Watch production", "Wait during the bake")
        kill()
        restart()
    finally:
        baking.kill()
    record = history()[0]
    assert record["outcome"] == "ABORTED" and "after traffic moved to green" in record["reason"]
    assert "forwards to" in record["reason"] and "(sample-app:v5)" in record["reason"]
    assert version(PRODUCTION) == "v5" and status()["releases"] == []  # where it was, with no release holding it

    nxt = deploy("release", "--image", "sample-app:v6", "--approve", "--bake", "0", "--health-interval", "2")
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    assert version(PRODUCTION) == "v6"


def test_a_release_interrupted_mid_canary_goes_back_to_blue(sandbox: None) -> None:
    before = version(PRODUCTION)
    canary = release_in_background("--image", "sample-app:v7", "--approve", "--strategy", "canary:30:5")
    try:
        wait_for_step("Watch green", "Wait before watching again")
        assert {s["role"]: s["productionShare"] for s in status()["sides"]} == {"live": 70, "test": 30}
        kill()
        restart()
    finally:
        canary.kill()
    record = history()[0]
    assert record["outcome"] == "ABORTED" and "Traffic was rolled back" in record["reason"]
    assert {s["role"]: s["productionShare"] for s in status()["sides"]} == {"live": 100, "test": 0}
    assert version(PRODUCTION) == before


def test_a_damaged_or_foreign_state_is_refused_and_left_alone(sandbox: None) -> None:
    kill()
    saved = statefile.path_in(STATE)
    whole = saved.read_bytes()
    for damaged, says in ((whole[:len(whole) // 2], "it was cut short"),
                          (whole[:-1] + bytes([whole[-1] ^ 1]), "do not match their digest"),
                          (whole.replace(b"format ", b"format 0", 1), "written by another version of this project"),
                          (b"not a state", "is not a saved sandbox state")):
        saved.write_bytes(damaged)
        refused = deploy(*PORTS)
        assert refused.returncode != 0 and says in refused.stderr, refused.stdout + refused.stderr
        assert "python3 deploy.py down" in refused.stderr and "Nothing was changed" in refused.stderr
        assert saved.read_bytes() == damaged  # nothing overwritten
        assert not port_open(ENDPOINT_PORT)  # nothing started
    left = owners.owned(STATE)
    assert len(left) == 4  # the refusal changed nothing: not even the dead sandbox's tasks were stopped

    result = deploy("down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert owners.owned(STATE) == []
    for port in (ENDPOINT_PORT, WEB_PORT, PRODUCTION, TEST):
        assert not port_open(port), f"port {port} still open"
    assert not STATE.exists()
