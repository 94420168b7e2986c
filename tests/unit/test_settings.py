"""A function's configuration: its own variables within an invocation, the process environment outside one."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

from release.settings import invocation_settings, setting

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def test_outside_an_invocation_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKS_TABLE", "from-the-environment")
    assert setting("LOCKS_TABLE") == "from-the-environment"


def test_within_an_invocation_only_its_own_variables_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKS_TABLE", "host")
    monkeypatch.setenv("APPROVALS_TABLE", "host")
    with invocation_settings({"LOCKS_TABLE": "invocation"}):
        assert setting("LOCKS_TABLE") == "invocation"
        with pytest.raises(KeyError, match="APPROVALS_TABLE"):  # deployed without it, as Lambda would see it
            setting("APPROVALS_TABLE")
    assert setting("LOCKS_TABLE") == "host"


def test_concurrent_invocations_each_see_their_own_variables() -> None:
    both_inside = threading.Barrier(2, timeout=5)
    seen: dict[str, str] = {}

    def invoke(table: str) -> None:
        with invocation_settings({"LOCKS_TABLE": table}):
            both_inside.wait()  # each reads while the other's settings are in force too
            seen[table] = setting("LOCKS_TABLE")

    threads = [threading.Thread(target=invoke, args=(table,)) for table in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert seen == {"first": "first", "second": "second"}


def test_the_invocation_variables_are_a_snapshot() -> None:
    variables = {"LOCKS_TABLE": "before"}
    with invocation_settings(variables):
        variables["LOCKS_TABLE"] = "after"
        assert setting("LOCKS_TABLE") == "before"


def reads_of_the_environment(path: Path) -> list[int]:
    """Lines where a module touches os.environ or os.getenv."""
    tree = ast.parse(path.read_text())
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in {"environ", "getenv"}]


def test_lambda_code_reads_its_configuration_only_through_settings() -> None:
    """Else the in-process runner could not give a handler its variables without changing os.environ."""
    not_lambda = {"pipeline_params.py"}  # the pipeline's CodeBuild step, run as a command in its own process
    found = {path.relative_to(HANDLERS).as_posix(): lines for path in sorted(HANDLERS.rglob("*.py"))
             if path.name not in not_lambda and path != HANDLERS / "release" / "settings.py"
             and (lines := reads_of_the_environment(path))}
    assert found == {}
