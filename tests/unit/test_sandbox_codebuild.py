"""The sandbox's CodeBuild: a project's buildspec runs in one shell over the unzipped source, phase by phase, failing
and reporting as CodeBuild does, and its artifacts are zipped from the source folder. The buildspecs here use only
shell commands; the stand-in `aws` parses the CLI's shorthand against botocore's model.
"""

from __future__ import annotations

import functools
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from sandbox.iam.enforce import Principal
from sandbox.pipeline import codebuild, tools

COMMIT = "0123456789abcdef0123456789abcdef01234567"
ARTIFACT = "arn:aws:s3:::shop-artifacts/shop-release/Source/3f2a9c1d"  # what CodePipeline gives as the source
SOURCE = {"app.py": "print('hello')\n", "scripts/version.txt": "1.2.3\n"}


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def unzipped(blob: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {info.filename: archive.read(info).decode() for info in archive.infolist() if not info.is_dir()}


@dataclass
class Outcome:
    artifact: dict[str, str] | None  # the output artifact's files, or None when the build failed
    failure: str  # BuildFailed's message
    log: list[str] = field(default_factory=list)
    source: Path = Path()

    def output(self) -> list[str]:
        """What the commands printed, without CodeBuild's own [Container] lines."""
        return [line for line in self.log if not line.startswith("[Container]")]


def run(tmp_path: Path, spec: dict[str, Any], variables: dict[str, str] | None = None,
        source: dict[str, str] | None = None) -> Outcome:
    project = {"name": "p", "arn": "arn:aws:codebuild:us-east-1:123456789012:project/p",
               "serviceRole": "arn:aws:iam::123456789012:role/r", "source": {"buildspec": yaml.safe_dump(spec)},
               "environment": {"environmentVariables": [{"name": name, "value": value, "type": "PLAINTEXT"}
                                                        for name, value in (variables or {}).items()]}}
    build = codebuild.Build("p:5f1c0a8e-0000-4000-8000-000000000001", project, ARTIFACT, COMMIT, "codepipeline/shop")
    principal = Principal("arn:aws:iam::123456789012:role/r", "s", ())
    work = tmp_path / "work"
    log: list[str] = []
    try:
        artifact = codebuild.run(build, zipped(SOURCE if source is None else source), work, "http://127.0.0.1:1",
                                 tmp_path / "registry", principal, log.append)
    except codebuild.BuildFailed as exc:
        return Outcome(None, str(exc), log, work / "src")
    return Outcome(unzipped(artifact), "", log, work / "src")


def spec(phases: dict[str, list[str]], **more: Any) -> dict[str, Any]:
    return {"version": 0.2, "phases": {name: {"commands": commands} for name, commands in phases.items()}, **more}


def test_phases_run_in_order_in_one_shell_carrying_variables(tmp_path: Path) -> None:
    done = run(tmp_path, spec({
        "post_build": ["echo post_build $STEPS"],
        "build": ["STEPS=\"$STEPS build\"", "echo build $STEPS"],
        "install": ["STEPS=install", "echo install $STEPS"],
        "pre_build": ["STEPS=\"$STEPS pre_build\"", "export EXPORTED=yes"],
    }))
    assert done.failure == ""
    assert done.output() == ["install install", "build install pre_build build",
                             "post_build install pre_build build"]
    entered = [line.removeprefix("[Container] Entering phase ") for line in done.log if "Entering phase" in line]
    assert entered == ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"]


def test_the_build_has_the_project_variables_and_codebuilds_own(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"build": [
        'echo "repository=$REPOSITORY_URI"', 'echo "stage=$STAGE"',
        'echo "commit=$CODEBUILD_RESOLVED_SOURCE_VERSION"', 'echo "source=$CODEBUILD_SOURCE_VERSION"',
        'echo "src=$CODEBUILD_SRC_DIR"', 'echo "pwd=$PWD"',
        'echo "region=$AWS_DEFAULT_REGION"',
    ]}, env={"variables": {"STAGE": "from the buildspec", "REPOSITORY_URI": "overridden by the project"}}),
               variables={"REPOSITORY_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop"})
    assert done.failure == ""
    assert done.output() == ["repository=123456789012.dkr.ecr.us-east-1.amazonaws.com/shop",
                             "stage=from the buildspec", f"commit={COMMIT}", f"source={ARTIFACT}",
                             f"src={done.source}",
                             f"pwd={done.source}", "region=us-east-1"]


def test_a_directory_change_lasts_into_the_next_commands_and_phases(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"pre_build": ["mkdir -p out/inner", "cd out"], "build": ["cd inner", "pwd"],
                               "post_build": ["pwd > \"$CODEBUILD_SRC_DIR/where.txt\""]},
                              artifacts={"files": ["where.txt"]}))
    assert done.failure == ""
    assert done.output() == [str(done.source / "out" / "inner")]
    assert done.artifact == {"where.txt": f"{done.source / 'out' / 'inner'}\n"}


def test_a_failing_pre_build_stops_the_build_and_post_build(tmp_path: Path) -> None:
    done = run(tmp_path, spec({
        "pre_build": ["echo logging in", "echo 'error: no such repository' >&2; false", "echo after the failure"],
        "build": ["echo building"], "post_build": ["echo post_build"],
    }, artifacts={"files": ["app.py"]}))
    assert done.artifact is None
    assert done.failure.startswith("Phase: PRE_BUILD, Code: COMMAND_EXECUTION_ERROR")
    assert "Log: error: no such repository." in done.failure
    assert "Error while executing command: echo 'error: no such repository' >&2; false. Reason: exit status 1" \
        in done.failure
    assert done.output() == ["logging in", "error: no such repository"]
    assert "[Container] Phase complete: PRE_BUILD State: FAILED" in done.log


def test_a_failing_build_still_runs_post_build_and_fails_the_build(tmp_path: Path) -> None:
    done = run(tmp_path, spec({
        "build": ["echo compiling", "echo 'tests failed'; (exit 3)", "echo not run"],
        "post_build": ["echo post_build succeeding=$CODEBUILD_BUILD_SUCCEEDING"],
    }))
    assert done.artifact is None
    assert done.failure.startswith("Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, Log: tests failed.")
    assert done.failure.endswith("Reason: exit status 3")
    assert done.output() == ["compiling", "tests failed", "post_build succeeding=0"]


def test_exit_in_a_command_ends_that_command_not_the_build(tmp_path: Path) -> None:
    """As on CodeBuild: `exit 0` lets the next command run, `exit N` fails the command's own phase."""
    done = run(tmp_path, spec({
        "install": ["VERSION=1", "if [ -n \"$VERSION\" ]; then echo nothing to install; exit 0; fi; echo not run"],
        "pre_build": ["echo version $VERSION", "[ -f missing.txt ] || { echo 'missing.txt is missing'; exit 2; }"],
        "build": ["echo building"],
    }))
    assert done.output() == ["nothing to install", "version 1", "missing.txt is missing"]
    assert done.failure.startswith("Phase: PRE_BUILD, Code: COMMAND_EXECUTION_ERROR, Log: missing.txt is missing.")
    assert done.failure.endswith("Reason: exit status 2")


def test_a_failing_post_build_command_stops_the_rest_of_post_build(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"build": ["echo built"],
                               "post_build": ["echo 'cannot write the report' >&2; false", "echo not run"]}))
    assert done.output() == ["built", "cannot write the report"]
    assert done.failure.startswith("Phase: POST_BUILD, Code: COMMAND_EXECUTION_ERROR, Log: cannot write the report.")


def test_the_artifact_zips_the_named_files_from_the_source_folder(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"build": ["mkdir -p out && printf '{\"image\":\"shop:1\"}' > out/build.json"]},
                              artifacts={"files": ["out/build.json", "scripts/*.txt"]}))
    assert done.failure == ""
    assert done.artifact == {"out/build.json": '{"image":"shop:1"}', "scripts/version.txt": "1.2.3\n"}


def test_an_artifact_the_build_did_not_make_fails_the_build(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"build": ["echo forgot to write it"]}, artifacts={"files": ["build.json"]}))
    assert done.artifact is None
    assert done.failure.startswith("Phase: UPLOAD_ARTIFACTS, Code: CLIENT_ERROR")
    assert "'build.json'" in done.failure


def test_the_buildspecs_bash_runs_the_commands(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"build": ['[[ "$BASH_VERSION" == [0-9]* ]] && echo in bash',
                                         "words=(a b c); echo ${#words[@]} words"]}, env={"shell": "bash"}))
    assert done.failure == ""
    assert done.output() == ["in bash", "3 words"]


def test_the_source_zips_files_are_in_the_source_folder(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"build": ["cat scripts/version.txt", "python_file=$(ls *.py); echo $python_file"]}),
               source={"app.py": "print('hello')\n", "scripts/version.txt": "1.2.3\n"})
    assert done.failure == ""
    assert done.output() == ["1.2.3", "app.py"]
    assert (done.source / "app.py").read_text() == "print('hello')\n"


def test_the_log_receives_every_output_line_with_codebuilds_own(tmp_path: Path) -> None:
    done = run(tmp_path, spec({"build": ["printf 'one\\ntwo\\n'", "echo three >&2"]}))
    assert done.failure == ""
    build = done.log[done.log.index("[Container] Entering phase BUILD"):]
    assert build[:6] == ["[Container] Entering phase BUILD", "[Container] Running command printf 'one\\ntwo\\n'",
                         "one", "two", "[Container] Running command echo three >&2", "three"]
    assert "[Container] Phase complete: BUILD State: SUCCEEDED" in build
    assert done.log[-1].startswith("[Container] Build took ")


# the stand-in `aws`: the CLI's values, JSON or shorthand, as botocore's model types them


@functools.cache
def ecr_model() -> Any:
    client = boto3.session.Session(region_name="us-east-1").client(  # type: ignore[call-overload]
        "ecr", aws_access_key_id="x", aws_secret_access_key="x")
    return client.meta.service_model


def ecr_member(operation: str, member: str) -> Any:
    return ecr_model().operation_model(operation).input_shape.members[member]


def test_the_cli_shorthand_for_a_list_of_structures_is_one_structure() -> None:
    assert tools._value("imageTag=abc", ecr_member("DescribeImages", "imageIds")) == [{"imageTag": "abc"}]
    assert tools._value("imageTag=abc,imageDigest=sha256:0f", ecr_member("DescribeImages", "imageIds")) == \
        [{"imageTag": "abc", "imageDigest": "sha256:0f"}]


@pytest.mark.parametrize(("operation", "member", "text", "value"), [
    ("DescribeImages", "imageIds", '[{"imageTag": "a"}, {"imageTag": "b"}]', [{"imageTag": "a"}, {"imageTag": "b"}]),
    ("DescribeImages", "maxResults", "5", 5),
    ("DescribeImages", "repositoryName", "shop", "shop"),
    ("DescribeImages", "filter", "tagStatus=TAGGED", {"tagStatus": "TAGGED"}),
    ("DescribeRepositories", "repositoryNames", "shop web", ["shop", "web"]),
    ("PutImage", "imageTag", "1.0", "1.0"),
    ("DeleteRepository", "force", "true", True),
])
def test_the_cli_values_are_typed_by_the_operations_model(operation: str, member: str, text: str,
                                                          value: Any) -> None:
    assert tools._value(text, ecr_member(operation, member)) == value


@pytest.mark.parametrize("key", ["finally", "on-failure"])
def test_a_phase_key_the_sandbox_does_not_run_is_refused_not_ignored(tmp_path: Path, key: str) -> None:
    buildspec = {"version": 0.2, "phases": {"build": {"commands": ["true"], key: ["true"] if key == "finally"
                                                                   else "CONTINUE"}}}
    done = run(tmp_path, buildspec)
    assert "YAML_FILE_ERROR" in done.failure and key in done.failure
