"""From commit to production in the sandbox: the deployed pipeline builds, deploys to green and releases each commit.

A user's path, in order: commit to the repository `python3 deploy.py` printed, find the approval link in the inbox,
approve, see production serve the commit. Real git, real HTTP, the pipeline as CloudFormation deployed it.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from tests.sandbox.cli import ENDPOINT_PORT, PRODUCTION, TEST, deploy, inbox, status

pytestmark = pytest.mark.sandbox
T = TypeVar("T")
PIPELINE = "shop-release"
GIT = shutil.which("git") or "/usr/bin/git"
GIT_IDENTITY = ["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@sandbox.invalid"]


def client(service: str) -> Any:
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    return session.client(service, endpoint_url=f"http://127.0.0.1:{ENDPOINT_PORT}")  # type: ignore[call-overload]


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 180, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def page(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as response:
        found: dict[str, Any] = json.loads(response.read())
        return found


def commit(repository: Path, message: str, edits: dict[str, Callable[[str], str]]) -> str:
    before = {name: (repository / name).read_text() for name in edits}
    for name, change in edits.items():
        (repository / name).write_text(change(before[name]))
    assert any((repository / name).read_text() != text for name, text in before.items()), "the edits changed nothing"
    git(repository, *GIT_IDENTITY, "commit", "--quiet", "--all", "--message", message)
    return git(repository, "rev-parse", "HEAD")


def git(repository: Path, *args: str) -> str:
    return subprocess.run([GIT, *args], cwd=repository, check=True, capture_output=True, text=True).stdout.strip()


def say(text: str) -> Callable[[str], str]:
    return lambda source: re.sub(r'^MESSAGE = ".*"$', f'MESSAGE = "{text}"', source, flags=re.MULTILINE)


def execution(sha: str) -> dict[str, Any] | None:
    for summary in client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
            "pipelineExecutionSummaries"]:
        if any(r["revisionId"] == sha for r in summary.get("sourceRevisions", [])):
            return dict(summary)
    return None


def ended(sha: str, timeout: float = 240) -> dict[str, Any]:
    return eventually(lambda: (e if (e := execution(sha)) and e["status"] != "InProgress" else None),
                      f"the pipeline execution of {sha[:12]} to end", timeout)


def shown(sha: str) -> dict[str, Any]:
    """The execution as `python3 deploy.py status --json` shows it."""
    found: list[dict[str, Any]] = [e for e in status()["pipeline"]["executions"] if e["commit"] == sha]
    assert found, f"status does not show the execution of {sha[:12]}"
    return found[0]


def approval_link(sha: str, timeout: float = 180) -> str:
    """The link of the approval request for the image built from `sha`, once it arrives in the inbox."""
    def find() -> str | None:
        for message in inbox():
            if message["subject"].startswith("Approve?") and sha[:12] in json.dumps(message):
                return next((u for u in message["links"] if "/approvals/" in u), None)
        return None
    return eventually(find, f"the approval request for {sha[:12]}", timeout)


def approve_in_browser(link: str, decision: str = "approve") -> str:
    with urllib.request.urlopen(link, timeout=10) as form_page:  # the page first: a GET decides nothing
        assert 'method="post"' in form_page.read().decode()
    form = urllib.parse.urlencode({"decision": decision, "name": "Ada Lovelace", "reason": "checked the test URL"})
    request = urllib.request.Request(link, data=form.encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.read().decode())


def actions(execution_id: str) -> dict[str, dict[str, Any]]:
    """The execution's action executions by action name."""
    found = client("codepipeline").list_action_executions(
        pipelineName=PIPELINE, filter={"pipelineExecutionId": execution_id})["actionExecutionDetails"]
    return {a["actionName"]: a for a in found}


def build_log(execution_id: str) -> str:
    """The image build's log, from the build project's CloudWatch Logs group."""
    build = actions(execution_id)["BuildAndPushImage"]
    stream = client("logs").describe_log_streams(logGroupName="/shop/codebuild", logStreamNamePrefix="build/")
    name = next(s["logStreamName"] for s in stream["logStreams"]
                if s["logStreamName"].endswith(build["output"]["executionResult"]["externalExecutionId"]
                                               .split(":", 1)[1]))
    events = client("logs").get_log_events(logGroupName="/shop/codebuild", logStreamName=name)["events"]
    return "\n".join(e["message"] for e in events)


@pytest.fixture(scope="module")
def repository() -> Iterator[Path]:
    deploy("down")
    started = deploy("--production-port", str(PRODUCTION), "--test-port", str(TEST))
    assert started.returncode == 0, started.stdout + started.stderr
    pipeline = status()["pipeline"]
    assert pipeline["name"] == PIPELINE and pipeline["executions"] == []  # nothing runs until a commit
    path = Path(pipeline["repository"])
    assert f"repository         {path} (branch main)" in started.stdout
    yield path
    deploy("down")


def test_a_commit_is_built_put_on_green_approved_from_the_inbox_and_served(repository: Path) -> None:
    assert page(PRODUCTION)["version"] == "v1"
    committed = time.monotonic()
    sha = commit(repository, "Greet from the first commit", {"app.py": say("Hello from the first commit")})
    link = approval_link(sha)
    asked = time.monotonic()
    on_green = page(TEST)
    assert on_green["message"] == "Hello from the first commit" and on_green["version"] == sha[:12]
    assert on_green["image"].endswith(f"/shop:{sha[:12]}")  # built by the pipeline, pushed to ECR, run by ECS
    assert page(PRODUCTION)["version"] == "v1"  # nobody approved yet
    waiting = shown(sha)
    assert (waiting["status"], waiting["stage"], waiting["action"]) == ("InProgress", "Release", "BlueGreenRelease")
    assert waiting["release"]["step"] == "Ask for approval" and waiting["message"] == "Greet from the first commit"

    assert "Approved by operators@sandbox.invalid (as Ada Lovelace)" in approve_in_browser(link)
    approved = time.monotonic()
    assert ended(sha)["status"] == "Succeeded"
    live = time.monotonic()
    assert page(PRODUCTION)["message"] == "Hello from the first commit"
    assert page(TEST)["version"] == "v1"  # the previous version stays on the test side, ready to roll back to
    assert shown(sha)["status"] == "Succeeded"
    print(f"commit to approval request {asked - committed:.1f} s; approval to production {live - approved:.1f} s")
    history = deploy("history", "--json", "--limit", "1")  # the release knows the pipeline run that started it
    assert history.returncode == 0, history.stderr
    [released] = json.loads(history.stdout)["releases"]
    assert released["pipelineExecution"] == ended(sha)["pipelineExecutionId"]
    assert released["outcome"] == "SUCCEEDED" and released["imagesTo"][0].endswith(f"/shop:{sha[:12]}")
    assert released["decision"]["by"] == "operators@sandbox.invalid" and released["decision"]["note"] == "Ada Lovelace"


def test_a_commit_failing_its_health_check_fails_at_release_and_the_next_good_one_releases(
        repository: Path) -> None:
    before = page(PRODUCTION)
    seen = len(inbox())
    unhealthy = commit(repository, "Break the health check", {"app.py": lambda s: s.replace(
        'self.answer(200, "text/plain", b"ok\\n")', 'self.answer(500, "text/plain", b"broken\\n")')})
    failed = ended(unhealthy)
    assert failed["status"] == "Failed"
    shown_failure = shown(unhealthy)
    assert (shown_failure["stage"], shown_failure["action"]) == ("Release", "BlueGreenRelease")
    assert "GreenUnhealthy" in shown_failure["error"]
    assert page(PRODUCTION) == before
    assert any("GreenUnhealthy" in m["subject"] for m in inbox()[seen:])  # the operators were told
    assert not any(m["subject"].startswith("Approve?") and unhealthy[:12] in json.dumps(m) for m in inbox())

    fixed = commit(repository, "Mend the health check", {"app.py": lambda s: s.replace(
        'self.answer(500, "text/plain", b"broken\\n")', 'self.answer(200, "text/plain", b"ok\\n")')})
    approval_link(fixed)
    decided = deploy("approve", "--reason", "health mended")
    assert decided.returncode == 0, decided.stdout + decided.stderr
    assert ended(fixed)["status"] == "Succeeded"
    assert page(PRODUCTION)["version"] == fixed[:12]


def test_a_commit_released_again_after_a_rollback_reuses_its_image(repository: Path) -> None:
    live = page(PRODUCTION)["version"]
    head = git(repository, "rev-parse", "HEAD")
    assert head[:12] == live
    rolled_back = deploy("rollback")
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    assert page(PRODUCTION)["version"] != live

    retried = deploy("pipeline", "retry", "--json")  # "Release change": the branch's latest commit, again
    assert retried.returncode == 0, retried.stdout + retried.stderr
    execution_id = json.loads(retried.stdout)["pipelineExecutionId"]

    def run() -> dict[str, Any] | None:
        return next((e for e in status()["pipeline"]["executions"] if e["id"] == execution_id), None)

    eventually(lambda: ((e := run()) and e["release"] and e["release"]["step"] == "Ask for approval" and e) or None,
               "the retried commit's release to ask for approval")
    assert deploy("approve").returncode == 0
    done = eventually(lambda: ((e := run()) and e["status"] != "InProgress" and e) or None, "the retry to end")
    assert (done["status"], done["commit"], done["trigger"]) == ("Succeeded", head, "StartPipelineExecution")
    assert page(PRODUCTION)["version"] == live
    images = client("ecr").describe_images(repositoryName="shop", imageIds=[{"imageTag": head[:12]}])["imageDetails"]
    assert len(images) == 1  # one image per commit: the second build reused it
    assert "releasing it as it is, no build" in build_log(execution_id)


def test_a_rejected_release_fails_the_execution_and_leaves_production(repository: Path) -> None:
    before = page(PRODUCTION)
    sha = commit(repository, "A change nobody wants", {"app.py": say("Nobody wants this")})
    link = approval_link(sha)
    assert "Rejected by operators@sandbox.invalid (as Ada Lovelace)" in approve_in_browser(link, "reject")
    assert ended(sha)["status"] == "Failed"
    assert "ApprovalRejected" in shown(sha)["error"]
    assert page(PRODUCTION) == before
    assert page(TEST)["message"] == "Nobody wants this"  # green keeps it for a look


def test_two_commits_in_quick_succession_queue_and_release_in_order(repository: Path) -> None:
    first = commit(repository, "First of two", {"app.py": say("First of two")})
    second = commit(repository, "Second of two", {"app.py": say("Second of two")})
    approval_link(first)
    # the second is built meanwhile, but waits at the Release stage's entrance: green keeps the first
    second_id = eventually(lambda: (e := execution(second)) and e["pipelineExecutionId"], "the second execution")
    eventually(lambda: actions(second_id).get("BuildAndPushImage", {}).get("status") == "Succeeded" or None,
               "the second commit's build")
    time.sleep(3)
    assert page(TEST)["message"] == "First of two"
    assert "PrepareRelease" not in actions(second_id)  # it has not entered the Release stage
    assert deploy("approve").returncode == 0
    assert ended(first)["status"] == "Succeeded"
    approval_link(second)
    assert page(PRODUCTION)["message"] == "First of two" and page(TEST)["message"] == "Second of two"
    assert deploy("approve").returncode == 0
    assert ended(second)["status"] == "Succeeded"
    assert page(PRODUCTION)["message"] == "Second of two"


def test_a_dockerfile_that_does_not_build_fails_at_build_and_deploys_nothing(repository: Path) -> None:
    green = next(s for s in status()["sides"] if s["role"] == "test")["images"]
    typo = {"Dockerfile": lambda s: s.replace("COPY app.py", "CPY app.py")}
    sha = commit(repository, "Typo in the Dockerfile", typo)
    assert ended(sha)["status"] == "Failed"
    failure = shown(sha)
    assert (failure["stage"], failure["action"]) == ("Build", "BuildAndPushImage")
    assert "dockerfile parse error on line 3: unknown instruction: CPY" in failure["error"]
    assert next(s for s in status()["sides"] if s["role"] == "test")["images"] == green
    images = client("ecr").describe_images(repositoryName="shop")["imageDetails"]
    assert not any(sha[:12] in d.get("imageTags", []) for d in images)


def test_an_action_fails_with_access_denied_when_its_role_loses_a_permission(repository: Path) -> None:
    iam = client("iam")
    role = next(r["RoleName"] for r in iam.list_roles()["Roles"] if "BuildRole" in r["RoleName"])
    name = iam.list_role_policies(RoleName=role)["PolicyNames"][0]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    # moto answers a policy that CloudFormation created as Python's repr of it, not JSON
    original = document if isinstance(document, dict) else ast.literal_eval(document)
    weakened = json.loads(json.dumps(original))
    for statement in weakened["Statement"]:
        if statement.get("Sid") == "PushToThisRepository":
            statement["Action"] = [a for a in statement["Action"] if a != "ecr:PutImage"]
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(weakened))
    try:
        change = {"Dockerfile": lambda s: s.replace("CPY app.py", "COPY app.py"), "app.py": say("Never pushed")}
        sha = commit(repository, "A change the build may not push", change)
        assert ended(sha)["status"] == "Failed"
        failure = shown(sha)
        assert (failure["stage"], failure["action"]) == ("Build", "BuildAndPushImage")
        assert f"assumed-role/{role}/" in failure["error"]
        assert "is not authorized to perform: ecr:PutImage" in failure["error"]
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(original))
