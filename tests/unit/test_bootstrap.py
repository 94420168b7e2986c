"""The first-run environment of `deploy.py`, for stock OS Pythons (PEP 668); the real run is in
tests/sandbox/test_quickstart.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployer import bootstrap

ROOT = Path(__file__).resolve().parents[2]


def test_every_requirement_has_a_module_that_says_it_is_installed() -> None:
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    names = {re.split(r"[\[=<>]", line)[0].lower().replace("-", "_") for line in lines}
    modules = {"pyyaml": "yaml"}
    assert {modules.get(name, name) for name in names} == set(bootstrap.NEEDED)


def test_without_any_usable_pip_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bootstrap, "_pip_version", lambda command: None)
    with pytest.raises(SystemExit) as stopped:
        bootstrap._installer(tmp_path / "bin" / "python", tmp_path)
    assert "sudo apt install python3-venv" in str(stopped.value) and "no pip" in str(stopped.value)


def test_a_pip_too_old_to_fill_another_environment_is_named(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    monkeypatch.setattr(bootstrap, "_pip_version",
                        lambda command: (22, 0) if command[0] != str(tmp_path / "bin" / "python") else None)
    with pytest.raises(SystemExit, match=r"pip 22\.0"):
        bootstrap._installer(tmp_path / "bin" / "python", tmp_path)


def test_an_environment_without_pip_is_filled_by_this_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    monkeypatch.setattr(bootstrap, "_pip_version", lambda command: None if command[0] == str(python) else (23, 0))
    assert bootstrap._installer(python, tmp_path)[-2:] == ["--python", str(python)]


def test_requirements_are_installed_again_only_when_they_change(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("boto3==1\n")
    (tmp_path / "dev.txt").write_text("-r base.txt\npytest==1\n")
    before = bootstrap._digest(tmp_path / "dev.txt")
    assert bootstrap._digest(tmp_path / "dev.txt") == before
    (tmp_path / "base.txt").write_text("boto3==2\n")  # an included file changed: the digest follows
    assert bootstrap._digest(tmp_path / "dev.txt") != before
