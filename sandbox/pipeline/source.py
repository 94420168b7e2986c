"""CodeConnections, emulated: the sandbox's one connection reaches local git repositories.

A pipeline's source action names a connection and a repository ("owner/name"); with the sandbox's connection
the repository is a git repository under the state folder, created on first use with the sample app. Git does
the work: the branch's head is the source revision, `git archive` the source artifact.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The connection the sandbox's CodeConnections knows (the pipeline template requires a connection ARN's shape).
CONNECTION_ARN = "arn:aws:codeconnections:us-east-1:123456789012:connection/5a4d60b0-5a4d-40b0-8000-00000000c0de"
SAMPLE_APP = Path(__file__).resolve().parent.parent / "sample_app"
_IDENTITY = {"GIT_AUTHOR_NAME": "Sandbox", "GIT_AUTHOR_EMAIL": "sandbox@sandbox.invalid",
             "GIT_COMMITTER_NAME": "Sandbox", "GIT_COMMITTER_EMAIL": "sandbox@sandbox.invalid"}


class SourceError(Exception):
    """The source action cannot read the repository (unknown connection, no such branch)."""


@dataclass(frozen=True)
class Revision:
    commit: str
    message: str


def repository_path(state: Path, repository_id: str) -> Path:
    owner, name = repository_id.split("/", 1)
    return state / "repositories" / owner / name


def ensure_repository(path: Path, branch: str) -> bool:
    """Create the repository with the sample app on `branch` if it does not exist; True when created."""
    if (path / ".git").is_dir():
        return False
    path.mkdir(parents=True, exist_ok=True)
    for item in SAMPLE_APP.iterdir():
        if item.is_file():
            shutil.copy2(item, path / item.name)
    _git(path, "init", "--quiet", f"--initial-branch={branch}")
    _git(path, "add", "--all")
    _git(path, "commit", "--quiet", "--message", "The sample app")
    return True


def head(path: Path, branch: str) -> Revision | None:
    """The branch's latest commit, or None when the repository or the branch does not exist (yet)."""
    if not (path / ".git").is_dir():
        return None
    try:
        out = _git(path, "log", "-1", "--format=%H%n%s", f"refs/heads/{branch}", "--")
    except SourceError:
        return None
    commit, _, message = out.partition("\n")
    return Revision(commit, message.strip())


def message(path: Path, commit: str) -> str:
    return _git(path, "log", "-1", "--format=%s", commit, "--")


def commits_between(path: Path, seen: str | None, head: str) -> list[str]:
    """The branch's commits after `seen` up to `head`, oldest first; just `head` when history was rewritten."""
    if seen is None:
        return [head]
    try:
        _git(path, "merge-base", "--is-ancestor", seen, head)
        listed = _git(path, "rev-list", "--reverse", "--first-parent", f"{seen}..{head}").split()
    except SourceError:  # `seen` is not behind the head (a reset, an amend): the head is what was pushed
        return [head]
    return listed or [head]


def archive(path: Path, commit: str) -> bytes:
    """The commit's files as a zip, as the CodeConnections source action's artifact is."""
    try:
        return subprocess.run(["git", "archive", "--format=zip", commit], cwd=path, capture_output=True,  # noqa: S603, S607 - git on PATH
                              check=True, env=_env()).stdout
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"cannot read commit {commit} of {path}: {exc.stderr.decode().strip()}") from exc


def _git(path: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True, env=_env())  # noqa: S603, S607
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"git {args[0]} in {path}: {exc.stderr.strip()}") from exc
    return done.stdout.strip()


def _env() -> dict[str, str]:
    # the user's global git configuration (hooks, signing) must not change what the sandbox commits
    return {**os.environ, **_IDENTITY, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
