"""CodeBuild, emulated: a project's buildspec runs for real in bash, as the project's service role.

The input artifact is unzipped into the build's source folder; each phase's commands run in order in one
shell (variables carry over, as in buildspec version 0.2); a failing command fails its phase: after a failed
install or pre_build nothing else runs, after a failed build post_build still runs and the build fails. The
artifacts the buildspec names are zipped as the output artifact. The build's output goes to its log file and
to the project's CloudWatch Logs group, as the service role writes it.

What stands in for CodeBuild's image: `aws`, `docker` and `python` on the PATH are the sandbox's
(`sandbox/pipeline/tools.py`); the other commands are this machine's. `runtime-versions` is not honoured:
the build has this machine's Python.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.iam import enforce

PHASES = ("install", "pre_build", "build", "post_build")
TOOLS = Path(__file__).resolve().parent / "tools.py"
ROOT = Path(__file__).resolve().parents[2]


class BuildFailed(Exception):
    """The build ended FAILED; the message says in which phase and why, with the failing command's log line."""


@dataclass(frozen=True)
class Build:
    id: str
    project: dict[str, Any]  # BatchGetProjects' view of the project
    source_version: str  # under CodePipeline: the input artifact's S3 ARN
    resolved_source_version: str  # the commit
    initiator: str


def run(build: Build, source_zip: bytes, work: Path, endpoint: str, registry: Path,
        principal: enforce.Principal, log: Callable[[str], None]) -> bytes:
    """Run the build; the output artifact's zip. Raises BuildFailed."""
    source = work / "src"
    source.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(source_zip)) as archive:
        archive.extractall(source)
    spec = yaml.safe_load(build.project["source"]["buildspec"])
    _refuse_what_is_not_emulated(build, spec)
    (work / "principal.json").write_text(json.dumps(principal.to_json()))
    env = _environment(build, spec, source, work, endpoint, registry)
    timeout = 60 * int(build.project.get("timeoutInMinutes") or 60)
    failed = _run_phases(spec, source, work, env, log, timeout)
    if failed:
        raise BuildFailed(failed)
    return _artifacts(spec, source)


def _refuse_what_is_not_emulated(build: Build, spec: dict[str, Any]) -> None:
    """Refused, not ignored: a build that skipped these would pass, or fail, for the wrong reason."""
    found = [f"{phase}: {key}" for phase, body in (spec.get("phases") or {}).items()
             for key in sorted(set(body or {}) - {"commands", "runtime-versions"})]
    found += [f"env: {key}" for key in sorted(set(spec.get("env") or {}) - {"shell", "variables"})]
    found += [f"artifacts: {key}" for key in sorted(set(spec.get("artifacts") or {}) - {"files"})]
    found += [f"environment variable {v['name']} of type {v['type']}"
              for v in build.project["environment"].get("environmentVariables", [])
              if v.get("type", "PLAINTEXT") != "PLAINTEXT"]
    if found:
        raise BuildFailed(f"Phase: SUBMITTED, Code: YAML_FILE_ERROR, Message: the sandbox's CodeBuild does not "
                          f"emulate {'; '.join(found)}")


def _environment(build: Build, spec: dict[str, Any], source: Path, work: Path, endpoint: str,
                 registry: Path) -> dict[str, str]:
    bin_dir = work / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("aws", "docker", "python", "python3"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(TOOLS))} '
                          f'{"python" if tool.startswith("python") else tool} "$@"\n')
        script.chmod(0o755)
    (work / "docker").mkdir(exist_ok=True)
    region = build.project["arn"].split(":")[3]
    project_variables = {v["name"]: v["value"] for v in build.project["environment"].get("environmentVariables", [])}
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(work), "LANG": "C.UTF-8",
        # CodeBuild's own variables
        "CODEBUILD_BUILD_ID": build.id, "CODEBUILD_BUILD_ARN": build.project["arn"].replace(":project/", ":build/")
        .rsplit("/", 1)[0] + "/" + build.id, "CODEBUILD_SRC_DIR": str(source),
        "CODEBUILD_RESOLVED_SOURCE_VERSION": build.resolved_source_version,
        "CODEBUILD_SOURCE_VERSION": build.source_version,
        "CODEBUILD_INITIATOR": build.initiator, "CODEBUILD_BUILD_SUCCEEDING": "1",
        "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
        # the sandbox: its endpoint, and who the tools act as
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
        "SANDBOX_PRINCIPAL_FILE": str(work / "principal.json"), "SANDBOX_DOCKER_ROOT": str(work / "docker"),
        "SANDBOX_REGISTRY": str(registry),
        **{k: str(v) for k, v in ((spec.get("env") or {}).get("variables") or {}).items()},
        **project_variables,
    }


def _run_phases(spec: dict[str, Any], source: Path, work: Path, env: dict[str, str],
                log: Callable[[str], None], timeout: float) -> str | None:
    """Run the phases in one shell; the failure's description, or None when the build succeeded."""
    script = ["__fail() { echo \"[Container] Command did not exit successfully $1 exit status $2\"; }",
              # `exit` in a command ends that command (its status), as on CodeBuild, not the build's one shell
              '[ -n "$BASH_VERSION" ] && shopt -s expand_aliases', "alias exit=return"]
    commands: list[str] = []
    for phase in PHASES:
        listed = ((spec.get("phases") or {}).get(phase) or {}).get("commands") or []
        script.append(f'if [ -z "$__stop" ]; then echo "[Container] Entering phase {phase.upper()}"')
        for command in listed:
            commands.append(command)
            path = work / f"command-{len(commands)}.sh"
            path.write_text(command + "\n")
            script.append(f"  if [ -z \"$__failed\" ] || {{ [ {phase} = post_build ] && "
                          f"[ \"$__failed\" != post_build ]; }}; then "
                          f"echo {shlex.quote('[Container] Running command ' + command.splitlines()[0])}; "
                          f". {shlex.quote(str(path))}; __rc=$?; "
                          f"if [ $__rc -ne 0 ]; then __fail {shlex.quote(command.splitlines()[0])} $__rc; "
                          f"__failed={phase}; CODEBUILD_BUILD_SUCCEEDING=0; fi; fi")
        script.append(f'  echo "[Container] Phase complete: {phase.upper()} State: '
                      f'$([ "$__failed" = {phase} ] && echo FAILED || echo SUCCEEDED)"')
        if phase in ("install", "pre_build"):
            script.append('  [ -n "$__failed" ] && __stop=1')
        script.append("fi")
    script.append('[ -z "$__failed" ] || { echo "__FAILED_PHASE__ $__failed"; \\exit 1; }')
    shell = (spec.get("env") or {}).get("shell", "bash")
    (work / "build.sh").write_text("\n".join(script) + "\n")
    started = time.monotonic()
    # its own session, no stdin (a command reading it must not wait on the sandbox's), killed with its children
    # at the project's timeout or when anything goes wrong here
    process = subprocess.Popen([shell if shell in ("bash", "sh") else "bash", str(work / "build.sh")],  # noqa: S603
                               cwd=source, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    timer = threading.Timer(timeout, _kill, (process,))
    timer.start()
    lines: list[str] = []
    phase = "BUILD"
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            if line.startswith("__FAILED_PHASE__ "):
                phase = line.split(" ", 1)[1]
                continue
            lines.append(line)
            log(line)
        process.wait()
    finally:
        timer.cancel()
        _kill(process)
    log(f"[Container] Build took {time.monotonic() - started:.1f} s")
    if process.returncode == 0:
        return None
    if time.monotonic() - started >= timeout:
        return f"Phase: BUILD, Code: BUILD_TIMED_OUT, Message: Build has timed out after {timeout // 60:.0f} minutes"
    failed = next((line for line in lines if line.startswith("[Container] Command did not exit")), "")
    reported = failed.removeprefix("[Container] Command did not exit successfully ")
    command, _, status = reported.rpartition(" exit status ")
    cause = _cause(lines)
    return (f"Phase: {phase.upper()}, Code: COMMAND_EXECUTION_ERROR, "
            + (f"Log: {cause}. " if cause else "")
            + f"Message: Error while executing command: {command}. Reason: exit status {status or '?'}")


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _cause(lines: list[str]) -> str:
    """The build's own error line: the last output line before the first failing command's report."""
    for index, line in enumerate(lines):
        if line.startswith("[Container] Command did not exit"):
            before = [x for x in lines[:index] if x.strip() and not x.startswith("[Container]")]
            return before[-1].strip() if before else ""
    return ""


def _artifacts(spec: dict[str, Any], source: Path) -> bytes:
    listed = (spec.get("artifacts") or {}).get("files") or []
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for pattern in listed:
            found = sorted(source.glob(pattern))
            if not found:
                raise BuildFailed(f"Phase: UPLOAD_ARTIFACTS, Code: CLIENT_ERROR, Message: no matching artifact "
                                  f"paths found for {pattern!r}")
            for path in found:
                archive.write(path, path.relative_to(source).as_posix())
    return out.getvalue()
