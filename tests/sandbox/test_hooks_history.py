"""Hooks, approvers' own links and the release history, as a user meets them in the sandbox (real HTTP).

One sandbox with two approvers goes through a known sequence of releases; the history must then tell it back.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.cli import PRODUCTION, ROOT, TEST, WEB, deploy, inbox, version
from tests.sandbox.cli import env as _env

pytestmark = pytest.mark.sandbox
ADA, GRACE = "ada@sandbox.invalid", "grace@sandbox.invalid"
SMOKE = "after-test-traffic=shop-hook-smoke-test"


@pytest.fixture(scope="module")
def team() -> Iterator[subprocess.CompletedProcess[str]]:
    deploy("down")
    started = deploy("--production-port", str(PRODUCTION), "--test-port", str(TEST), "--approver-email", ADA,
                     "--approver-email", GRACE)
    assert started.returncode == 0, started.stdout + started.stderr
    yield started
    deploy("down")


def background_release(*flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "deploy.py"), "release", *flags, "--health-interval", "2"],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def approval_links(before: int, count: int = 2) -> dict[str, str]:
    """Approver address -> the link mailed to them, from the approval requests after the first `before`."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        requests = [m for m in inbox()[before:] if m["subject"].startswith("Approve?")]
        if len(requests) >= count:
            return {to: next(u for u in m["links"] if "/approvals/" in u) for m in requests for to in m["to"]}
        time.sleep(0.5)
    raise AssertionError("the approval requests did not arrive")


def post(link: str, **form: str) -> tuple[int, str]:
    request = urllib.request.Request(link, data=urllib.parse.urlencode(form).encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def get(link: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(link, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_each_approver_gets_an_own_link_and_the_smoke_test_passes_a_good_release(team: Any) -> None:
    before = len(inbox())
    process = background_release("--image", "sample-app:v2", "--hook", SMOKE)
    links = approval_links(before)
    assert set(links) == {ADA, GRACE} and links[ADA] != links[GRACE]  # one message, and one link, each
    status, page = post(links[ADA], decision="approve", name="Ada L.", reason="smoke test passed")
    assert status == 200 and f"Approved by {ADA} (as Ada L.)" in page
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    assert version(PRODUCTION) == "v2"
    status, page = get(links[GRACE])  # the other link now says who decided, and decides nothing
    assert status == 409 and f"already approved by {ADA} (as Ada L.)" in page
    assert post(links[GRACE], decision="reject", name="Grace", reason="late")[0] == 409
    assert version(PRODUCTION) == "v2"


def test_the_smoke_test_stops_a_release_whose_api_answers_500_before_anyone_is_asked(team: Any) -> None:
    before = len(inbox())
    result = deploy("release", "--image", "sample-app:v3-noapi", "--hook", SMOKE, "--approve",
                    "--health-interval", "2")
    assert result.returncode != 0
    assert "HookFailed" in result.stdout and "GET /api/status answered 500" in result.stdout, result.stdout
    assert version(PRODUCTION) == "v2"
    assert not any(m["subject"].startswith("Approve?") for m in inbox()[before:])


def test_a_hook_that_does_not_exist_is_refused_before_green_is_touched(team: Any) -> None:
    result = deploy("release", "--image", "sample-app:v9", "--hook", "after-test-traffic=shop-hook-typo")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "shop-hook-typo does not exist" in result.stderr and "Nothing was changed" in result.stderr
    assert version(TEST) == "v3-noapi"  # green untouched
    outside = deploy("release", "--image", "sample-app:v9", "--hook", "after-test-traffic=shop-discover")
    assert outside.returncode == 2 and "start with 'shop-hook-'" in outside.stderr
    unknown = deploy("release", "--image", "sample-app:v9", "--hook", "before-lunch=shop-hook-smoke-test")
    assert unknown.returncode == 2 and "unknown hook stage 'before-lunch'" in unknown.stderr


def test_a_rejected_release_and_a_hook_rollback_after_the_swap(team: Any) -> None:
    rejected = deploy("release", "--image", "sample-app:v4", "--reject", "--reason", "wrong copy",
                      "--health-interval", "2")
    assert rejected.returncode != 0 and "ApprovalRejected" in rejected.stdout
    rolled = deploy("release", "--image", "sample-app:v5-noapi", "--approve", "--health-interval", "2",
                    "--hook", "after-production-shift=shop-hook-smoke-test")
    assert rolled.returncode != 0 and "rolled back" in rolled.stdout, rolled.stdout
    assert version(PRODUCTION) == "v2"


def test_history_tells_the_sequence_back(team: Any) -> None:
    result = deploy("history", "--json", "--limit", "4")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)["releases"]
    told = [(r["imagesFrom"], r["imagesTo"], r["outcome"]) for r in records]
    assert told == [(["sample-app:v2"], ["sample-app:v5-noapi"], "ROLLED_BACK"),
                    (["sample-app:v2"], ["sample-app:v4"], "REJECTED"),
                    (["sample-app:v2"], ["sample-app:v3-noapi"], "FAILED"),
                    (["sample-app:v1"], ["sample-app:v2"], "SUCCEEDED")]
    rolled, rejected, stopped, approved = records
    assert "GET /api/status answered 500" in rolled["reason"] and "rollback" in rolled["stages"]
    assert rejected["decision"]["decision"] == "rejected" and "(deploy.py)" in rejected["decision"]["by"]
    assert "HookFailed" in stopped["reason"] and "hooks" in stopped["stages"] and stopped["decision"] is None
    assert approved["decision"]["by"] == ADA and approved["decision"]["note"] == "Ada L."
    assert set(approved["stages"]) >= {"discover", "health", "hooks", "approval", "traffic", "bake", "report"}
    assert all(r["endedAt"] and r["seconds"] > 0 and r["strategy"] == "all-at-once" for r in records)
    table = deploy("history", "--limit", "4")
    assert table.returncode == 0 and table.stdout.count("\n    stages: ") == 4
    assert "approved by ada@sandbox.invalid" in table.stdout


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    assert found and Path(found).exists(), "no chromium: `make test` installs Debian's chromium package"
    return found


def browse(url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,900", *flags,
                               url], capture_output=True, text=True, timeout=90, check=False)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_the_history_page_in_a_real_browser_shows_a_running_release_and_the_past_ones(team: Any) -> None:
    process = background_release("--image", "sample-app:v6", "--approve", "--strategy", "canary:30:5")
    try:
        deadline = time.monotonic() + 90
        dom = ""
        while time.monotonic() < deadline:
            dom = browse(f"{WEB}/history", "--dump-dom").stdout  # as the browser rendered it
            if "30% sample-app:v6" in dom:
                break
            time.sleep(1)
        assert "30% sample-app:v6" in dom and "70% sample-app:v2" in dom, dom  # the canary's split
        assert 'http-equiv="refresh"' in dom and "<script" not in dom
        assert dom.count("<section>") == 1 and "<h2>shop</h2>" in dom  # one system: its nested stacks are not
        assert "at 'Watch green'" in dom or "at 'Wait before watching again'" in dom
        for outcome in ("ROLLED_BACK", "REJECTED", "FAILED", "SUCCEEDED"):
            assert outcome in dom
        assert f"approved by {ADA} (Ada L.)" in dom
        shot = ROOT / ".build" / "history-page.png"
        taken = browse(f"{WEB}/history", f"--screenshot={shot}")
        assert taken.returncode == 0, taken.stderr
        assert png_size(shot) == (1400, 900) and shot.stat().st_size > 20_000  # a rendered page, not a blank
    finally:
        aborted = deploy("abort", "--reason", "end of the page test")
        out, err = process.communicate(timeout=120)
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert process.returncode != 0 and "rolled back" in out, out + err
    assert version(PRODUCTION) == "v2"
