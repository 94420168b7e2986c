"""The sandbox's saved state: a file replaced whole and checked before it is read; snapshots taken while quiet;
what pickle cannot take as it is, reduced."""

from __future__ import annotations

import io
import os
import pickle
import threading
import time
import weakref
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from sandbox import statefile
from sandbox.gate import Gate, changes_state
from sandbox.persist import dumps


def test_a_state_written_is_read_back_whole(tmp_path: Path) -> None:
    statefile.write(tmp_path, b"payload" * 1000, 1700000000.0)
    found = statefile.read(tmp_path)
    assert found is not None
    header, payload = found
    assert payload == b"payload" * 1000 and header.size == 7000 and header.written == 1700000000.0
    assert header.writer == statefile.writer()
    assert [p.name for p in tmp_path.iterdir()] == [statefile.NAME]  # no temporary file left


def test_writes_at_the_same_moment_leave_one_whole_state(tmp_path: Path) -> None:
    def write(byte: bytes) -> None:
        for _ in range(20):
            statefile.write(tmp_path, byte * 100_000, time.time())

    writers = [threading.Thread(target=write, args=(byte,)) for byte in (b"a", b"b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    found = statefile.read(tmp_path)
    assert found is not None and found[1] in (b"a" * 100_000, b"b" * 100_000)
    assert [p.name for p in tmp_path.iterdir()] == [statefile.NAME]


def test_a_crash_mid_write_leaves_a_temporary_file_the_next_start_removes(tmp_path: Path) -> None:
    statefile.write(tmp_path, b"whole", 1.0)
    (tmp_path / f".{statefile.NAME}.k3j4.tmp").write_bytes(b"half")
    statefile.remove_leftovers(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [statefile.NAME]
    found = statefile.read(tmp_path)
    assert found is not None and found[1] == b"whole"


def test_no_state_is_no_error(tmp_path: Path) -> None:
    assert statefile.read(tmp_path) is None


def test_a_write_that_dies_midway_leaves_the_previous_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statefile.write(tmp_path, b"first", 1.0)

    def power_loss(*_: Any) -> None:
        raise OSError("power loss")

    monkeypatch.setattr(os, "replace", power_loss)
    with pytest.raises(OSError, match="power loss"):
        statefile.write(tmp_path, b"second, never whole", 2.0)
    found = statefile.read(tmp_path)
    assert found is not None and found[1] == b"first"
    assert [p.name for p in tmp_path.iterdir()] == [statefile.NAME]  # its temporary file removed


@pytest.mark.parametrize(("damage", "says"), [
    (lambda data: data[:-3], "it was cut short"),
    (lambda data: data[:-1] + bytes([data[-1] ^ 1]), "do not match their digest"),
    (lambda data: data.replace(b'"writer": "format', b'"writer": "format 0', 1), "another version of this project"),
    (lambda data: data[:len(statefile.MAGIC) + 5], "damaged header"),
    (lambda data: b"{}" + data, "is not a saved sandbox state"),
])
def test_a_damaged_or_foreign_state_is_refused_with_the_way_out(tmp_path: Path, damage: Any, says: str) -> None:
    statefile.write(tmp_path, b"x" * 100, 1.0)
    path = statefile.path_in(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(statefile.StateFileError) as refused:
        statefile.read(tmp_path)
    assert says in str(refused.value) and "python3 deploy.py down" in str(refused.value)
    assert "Nothing was changed" in str(refused.value)


def test_the_writer_names_what_must_match() -> None:
    assert statefile.writer().startswith(f"format {statefile.FORMAT}, python ")
    assert "moto 5." in statefile.writer() and "sandbox code " in statefile.writer()


def _environ(method: str = "POST", target: str = "", path: str = "/", body: bytes = b"",
             query: str = "") -> dict[str, Any]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    if body:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded; charset=utf-8"
    return environ


@pytest.mark.parametrize(("environ", "changes"), [
    (_environ(target="AWSStepFunctions.DescribeExecution"), False),
    (_environ(target="DynamoDB_20120810.Query"), False),
    (_environ(target="DynamoDB_20120810.PutItem"), True),
    (_environ(target="AmazonEC2ContainerServiceV20141113.UpdateService"), True),
    (_environ(body=b"Action=DescribeListeners&Version=2015-12-01"), False),
    (_environ(body=b"Action=ModifyListener&Version=2015-12-01"), True),
    (_environ(path="/service/GraniteServiceVersion20100801/operation/GetMetricData"), False),
    (_environ(path="/service/GraniteServiceVersion20100801/operation/PutMetricData"), True),
    (_environ("GET", path="/2015-03-31/functions/shop-notify"), False),
    (_environ("PUT", path="/2015-03-31/functions/shop-notify/configuration"), True),
    (_environ("GET", query="Action=ListStacks"), False),
])
def test_reads_are_told_from_changes(environ: dict[str, Any], changes: bool) -> None:
    assert changes_state(environ) is changes


def test_a_query_request_body_is_still_there_for_moto() -> None:
    environ = _environ(body=b"Action=ModifyListener&ListenerArn=x")
    changes_state(environ)
    assert environ["wsgi.input"].read() == b"Action=ModifyListener&ListenerArn=x"


def test_a_chunked_body_is_left_alone_and_counts_as_a_change() -> None:
    environ = _environ(body=b"Action=DescribeListeners")
    del environ["CONTENT_LENGTH"]
    assert changes_state(environ) is True
    assert environ["wsgi.input"].read() == b"Action=DescribeListeners"


def test_only_a_lambda_invocation_passes_the_gate_ungated() -> None:
    gate = Gate()
    seen: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(gate._active == 1)
        return [b"ok"]

    gated = gate.wsgi(app)
    gated(_environ("POST", path="/2015-03-31/functions/shop-notify/invocations"), None)
    gated(_environ("PUT", path="/bucket/logs/invocations"), None)  # an S3 key that only ends like one
    assert seen == [False, True] and gate.changes == 1


def test_a_snapshot_waits_for_the_activities_under_way_and_holds_new_ones() -> None:
    gate = Gate()
    order: list[str] = []
    started = threading.Event()

    def request() -> None:
        with gate.activity():
            started.set()
            time.sleep(0.2)
            order.append("request ended")

    first = threading.Thread(target=request)
    first.start()
    started.wait()
    with gate.quiet(timeout=5) as quiet:
        assert quiet
        order.append("snapshot")
        def late_request() -> None:
            with gate.activity():
                order.append("late request")

        late = threading.Thread(target=late_request)
        late.start()
        time.sleep(0.1)
        assert "late request" not in order  # held back while the snapshot is taken
    late.join(2)
    first.join()
    assert order == ["request ended", "snapshot", "late request"]
    assert gate.changes == 2  # both may have changed the state


def test_a_snapshot_gives_up_rather_than_wait_for_ever() -> None:
    gate = Gate()
    stuck = gate.activity()
    stuck.__enter__()
    try:
        with gate.quiet(timeout=0.1) as quiet:
            assert not quiet
    finally:
        stuck.__exit__(None, None, None)
    with gate.activity(changing=False):  # and the gate is open again
        pass
    assert gate.changes == 1  # the stuck one, which may have changed the state


class Holder:
    """A value only a weak map and a list refer to."""


def test_what_pickle_cannot_take_comes_back_usable() -> None:
    held = [Holder()]
    saved: dict[str, Any] = {"lock": threading.Lock(), "rlock": threading.RLock(),
                             "weak": weakref.WeakValueDictionary({"a": held[0]}),
                             "nested": defaultdict(lambda: defaultdict(dict)), "held": held}
    saved["nested"]["x"]["y"]["z"] = 1
    back = pickle.loads(dumps(saved))  # noqa: S301 - our own bytes
    with back["lock"], back["rlock"]:
        pass
    assert back["weak"]["a"] is back["held"][0]
    assert back["nested"]["x"]["y"] == {"z": 1} and back["nested"]["new"]["k"] == {}
