"""The pipeline's image build, run as CodeBuild runs it: its commands in one bash, in phase order, stopping at the first
that fails, with stand-in `aws` and `docker` commands that record their calls and keep a registry whose tags are
immutable, as the ECR repository's are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployer import templates

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPOSITORY_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop"
IMAGE = f"{REPOSITORY_URI}:{COMMIT[:12]}"
PHASES = ("install", "pre_build", "build", "post_build")
BASH = shutil.which("bash") or "/bin/bash"  # the buildspec's shell (env: shell: bash)

AWS = r"""#!/bin/bash
echo "aws $*" >> "$CALLS"
case "$1 $2" in
  "ecr describe-images")
    [ "$4" = shop ] || { echo "unexpected repository $4" >&2; exit 2; }
    tag="${6#imageTag=}"
    if [ -n "$DESCRIBE_ERROR" ]; then
      echo "An error occurred ($DESCRIBE_ERROR) when calling the DescribeImages operation: denied" >&2; exit 254
    fi
    if [ -f "$REGISTRY/$tag" ]; then cat "$REGISTRY/$tag"; exit 0; fi
    echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with" \
         "imageId {imageTag:'$tag'} does not exist within the repository with name 'shop'" >&2
    exit 254;;
  "ecr get-login-password") echo token;;
  *) echo "unexpected: aws $*" >&2; exit 2;;
esac
"""

DOCKER = r"""#!/bin/bash
echo "docker $*" >> "$CALLS"
case "$1" in
  login) cat > /dev/null;;
  build) ;;
  push)
    tag="${2##*:}"
    if [ -f "$REGISTRY/$tag" ]; then
      echo "tag invalid: The image tag '$tag' already exists in the 'shop' repository and cannot be overwritten" \
           "because the repository is immutable." >&2
      exit 1
    fi
    echo "sha256:$(date +%s%N)$RANDOM" > "$REGISTRY/$tag";;  # every build is a different image
  *) echo "unexpected: docker $*" >&2; exit 2;;
esac
"""


def buildspec() -> dict[str, Any]:
    project = templates.load("pipeline.yaml")["Resources"]["BuildProject"]["Properties"]
    spec: dict[str, Any] = yaml.safe_load(project["Source"]["BuildSpec"])
    return spec


def environment() -> dict[str, str]:
    """The project's environment variables, with the values CloudFormation would give them."""
    values = {"ImageRepository.RepositoryUri": REPOSITORY_URI, "ImageRepository": "shop"}
    project = templates.load("pipeline.yaml")["Resources"]["BuildProject"]["Properties"]
    found = {}
    for variable in project["Environment"]["EnvironmentVariables"]:
        value = variable["Value"]
        found[variable["Name"]] = values[".".join(value["Fn::GetAtt"]) if "Fn::GetAtt" in value else value["Ref"]]
    return found


@dataclass
class Build:
    returncode: int
    stderr: str
    calls: list[str]
    artifact: str | None


@dataclass
class CodeBuild:
    root: Path

    def __post_init__(self) -> None:
        (self.root / "bin").mkdir()
        (self.root / "registry").mkdir()
        for name, script in (("aws", AWS), ("docker", DOCKER)):
            (self.root / "bin" / name).write_text(script)
            (self.root / "bin" / name).chmod(0o755)
        self.runs = 0

    def registry(self) -> dict[str, str]:
        return {path.name: path.read_text() for path in (self.root / "registry").iterdir()}

    def build(self, describe_error: str = "") -> Build:
        """One build of COMMIT in a fresh source directory, as CodePipeline starts one."""
        self.runs += 1
        source = self.root / f"source-{self.runs}"
        source.mkdir()
        calls = self.root / f"calls-{self.runs}"
        calls.touch()
        spec = buildspec()
        assert spec["env"]["shell"] == "bash"
        commands = [command for phase in PHASES for command in spec["phases"].get(phase, {}).get("commands", [])]
        script = "".join(f'{command}\nstatus=$?; [ "$status" -eq 0 ] || exit "$status"\n' for command in commands)
        done = subprocess.run([BASH, "-c", script], cwd=source, capture_output=True, text=True, check=False,
                              env={"PATH": f"{self.root / 'bin'}:{os.environ['PATH']}", "CALLS": str(calls),
                                   "REGISTRY": str(self.root / "registry"), "DESCRIBE_ERROR": describe_error,
                                   "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT, **environment()})
        [artifact_file] = spec["artifacts"]["files"]
        artifact = source / artifact_file
        return Build(done.returncode, done.stderr, calls.read_text().splitlines(),
                     artifact.read_text() if done.returncode == 0 and artifact.exists() else None)


@pytest.fixture
def codebuild(tmp_path: Path) -> CodeBuild:
    return CodeBuild(tmp_path)


def test_a_new_commit_is_built_pushed_and_named_in_the_artifact(codebuild: CodeBuild) -> None:
    first = codebuild.build()
    assert first.returncode == 0, first.stderr
    assert f"docker build --tag {IMAGE} ." in first.calls and f"docker push {IMAGE}" in first.calls
    assert first.artifact is not None and json.loads(first.artifact) == {"image": IMAGE}
    assert set(codebuild.registry()) == {COMMIT[:12]}


def test_a_commit_built_again_reuses_its_image_and_writes_the_same_artifact(codebuild: CodeBuild) -> None:
    """`Release change`, or a retry after a rollback: the tag exists and is immutable, so nothing is built or pushed
    and the later stages read the same image."""
    first = codebuild.build()
    pushed = codebuild.registry()
    again = codebuild.build()
    assert again.returncode == 0, again.stderr
    assert not [call for call in again.calls if call.startswith("docker")]
    assert any(call.startswith("aws ecr describe-images") and f"imageTag={COMMIT[:12]}" in call for call in again.calls)
    assert again.artifact == first.artifact
    assert codebuild.registry() == pushed  # the same image, not a second one under the tag


def test_an_error_looking_for_the_tag_fails_the_build_before_anything_is_built(codebuild: CodeBuild) -> None:
    """Only "not found" means build: a denied DescribeImages must not be taken for a missing image."""
    failed = codebuild.build(describe_error="AccessDeniedException")
    assert failed.returncode != 0 and "AccessDeniedException" in failed.stderr
    assert not [call for call in failed.calls if call.startswith("docker")]
    assert failed.artifact is None and codebuild.registry() == {}


def test_the_build_role_may_look_for_the_image_in_its_repository() -> None:
    resources = templates.load("pipeline.yaml")["Resources"]
    statements = resources["BuildRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any("ecr:DescribeImages" in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
               and s["Resource"] == {"Fn::GetAtt": ["ImageRepository", "Arn"]} for s in statements)
