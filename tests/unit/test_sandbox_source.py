"""The sandbox's CodeConnections: a local git repository as the pipeline's source."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sandbox.pipeline import source


def commit(path: Path, message: str) -> str:
    source._git(path, "commit", "--quiet", "--allow-empty", "--message", message)
    return source._git(path, "rev-parse", "HEAD")


def test_a_new_repository_holds_the_sample_app_in_one_commit_on_the_branch(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "shop"
    assert source.ensure_repository(path, "main") and not source.ensure_repository(path, "main")
    head = source.head(path, "main")
    assert head is not None and head.message == "The sample app"
    files = zipfile.ZipFile(io.BytesIO(source.archive(path, head.commit))).namelist()
    assert sorted(files) == sorted(p.name for p in source.SAMPLE_APP.iterdir() if p.is_file())
    assert source.head(path, "release") is None  # no such branch: nothing to release


def test_each_commit_since_the_last_seen_is_a_push_of_its_own_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    source.ensure_repository(path, "main")
    seen = source.head(path, "main")
    assert seen is not None
    first = commit(path, "first")
    second = commit(path, "second")
    assert source.commits_between(path, seen.commit, second) == [first, second]
    assert source.commits_between(path, None, second) == [second]


def test_a_rewritten_history_releases_the_new_head_only(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    source.ensure_repository(path, "main")
    abandoned = commit(path, "to be amended")
    source._git(path, "reset", "--hard", "HEAD~1")
    rewritten = commit(path, "instead")
    assert source.commits_between(path, abandoned, rewritten) == [rewritten]
    assert source.commits_between(path, "0" * 40, rewritten) == [rewritten]  # a commit git does not know
