"""The sandbox's AWS state kept on disk: snapshots of every moto backend in use, restored when it starts again.

A snapshot is taken while the sandbox is quiet (`gate`). Every backend goes into one pickle, so an object two
services share (a stack's target group is the load balancer's) is still one object after a restore. What cannot
be pickled as it is gets a reducer here: locks come back new, weak maps as maps, a Step Functions execution as
its record and history without the thread that ran it.

An execution that was RUNNING when the sandbox stopped cannot go on: its interpreter's thread is gone. It is
ended as ABORTED with `Sandbox.Interrupted`; `interrupted` then ends the release through the engine's functions.
"""

from __future__ import annotations

import copyreg
import datetime as dt
import importlib
import io
import json
import logging
import pickle
import sys
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from moto.core.base_backend import BackendDict
from moto.ssm.models import ParameterDict
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import Execution, SyncExecution

from . import statefile
from .gate import Gate

LOG = logging.getLogger("sandbox.persist")
INTERRUPTED = "Sandbox.Interrupted"

Getter = Callable[[], Any]
Setter = Callable[[Any], None]


@dataclass
class Extra:
    """State the sandbox keeps outside moto (the inbox, the pipelines' runs), saved with the backends."""

    get: Getter
    put: Setter


class Store:
    def __init__(self, state: Path, gate: Gate) -> None:
        self.state, self.gate = state, gate
        self.extras: dict[str, Extra] = {}
        self._last: bytes | None = None
        self.saves = self.writes = 0
        self._saving = threading.Lock()  # the loop's snapshot and the last one at shutdown never overlap
        self.figures: dict[str, Any] = {"maxHeldSeconds": 0.0}
        self._saved_changes = -1
        self._running: list[tuple[str, int]] = []

    def keep(self, name: str, get: Getter, put: Setter) -> None:
        self.extras[name] = Extra(get, put)

    def save(self, timeout: float = 2.0) -> bool:
        """Take a snapshot and write it if anything changed; False when the sandbox did not get quiet in time."""
        with self._saving:
            return self._save(timeout)

    def _save(self, timeout: float) -> bool:
        # a running execution's thread changes its history outside the gate: its length says whether it moved
        running = [(e.exec_arn, _history_length(e)) for e in running_executions()]
        if self.gate.changes == self._saved_changes and running == self._running:
            return True  # nothing changed since the last snapshot
        with self.gate.quiet(timeout) as quiet:
            if not quiet:
                return False
            started = time.monotonic()
            changes = self.gate.changes
            try:
                payload = dumps({"backends": _backends(), "extras": {n: e.get() for n, e in self.extras.items()}})
            except Exception as exc:  # noqa: BLE001 - the sandbox goes on; the last good snapshot stays on disk
                self._failed(exc)
                return False
            held = time.monotonic() - started
        if payload != self._last:
            statefile.write(self.state, payload, time.time())
            self._last = payload
            self.writes += 1
        self._saved_changes, self._running = changes, running
        self.saves += 1
        self.figures = {"saves": self.saves, "writes": self.writes, "bytes": len(payload),
                        "heldSeconds": round(held, 4),
                        "maxHeldSeconds": round(max(self.figures["maxHeldSeconds"], held), 4),
                        "seconds": round(time.monotonic() - started, 4), "savedAt": time.time()}
        return True

    def _failed(self, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if self.figures.get("error") != error:  # once per kind, not every second
            LOG.exception("a snapshot failed; the previous one stays on disk")
        self.figures["error"] = error

    def stats(self) -> dict[str, Any]:
        """How the snapshots go (for the benchmarks): how many, their size, how long the sandbox was held."""
        return dict(self.figures)

    def load(self) -> list[Execution] | None:
        """Restore the saved state, if there is one: the executions it ended as interrupted, or None."""
        found = statefile.read(self.state)
        if found is None:
            return None
        header, payload = found
        saved = pickle.loads(payload)  # noqa: S301 - our own file, checked against its digest and writer
        for module, qualname, accounts in saved["backends"]:
            live = _backend_dict(module, qualname)
            live.clear()
            live.update(accounts)
            if not any(b is live for b in _in_use()):
                _in_use().append(live)
        for name, value in saved["extras"].items():
            if name in self.extras:
                self.extras[name].put(value)
        self._last = payload
        LOG.info("restored the state saved at %s (%d bytes)", time.ctime(header.written), header.size)
        return _interrupt_running(header.written)


def dumps(value: Any) -> bytes:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _REDUCERS
    attempts = 5
    while True:
        out.seek(0)
        out.truncate()
        pickler.clear_memo()
        try:
            pickler.dump(value)
            return out.getvalue()
        except RuntimeError:  # a thread outside the gate (a running execution's) changed a dict meanwhile
            attempts -= 1
            if not attempts:
                raise


def _backends() -> list[tuple[str, str, dict[str, Any]]]:
    return [(b.backend.__module__, b.backend.__qualname__, dict(b)) for b in list(_in_use())]


def _in_use() -> list[BackendDict]:  # type: ignore[type-arg]
    """The backends moto has created (it lists them to reset them)."""
    in_use: list[BackendDict] = BackendDict._instances  # type: ignore[misc,type-arg]
    return in_use


def _backend_dict(module: str, qualname: str) -> BackendDict:  # type: ignore[type-arg]
    cls = getattr(importlib.import_module(module), qualname)
    for loaded in list(sys.modules.values()):
        if not getattr(loaded, "__name__", "").startswith("moto"):
            continue
        for value in list(vars(loaded).values()):
            if isinstance(value, BackendDict) and value.backend is cls:
                return value
    raise statefile.StateFileError(f"moto has no backend {module}.{qualname} to restore into")


# reducers: what pickle cannot take as it is


def _new_lock(_: Any) -> tuple[Any, tuple[()]]:
    return threading.Lock, ()


def _new_rlock(_: Any) -> tuple[Any, tuple[()]]:
    return threading.RLock, ()


def _weak_values(mapping: weakref.WeakValueDictionary) -> tuple[Any, tuple[dict[Any, Any]]]:  # type: ignore[type-arg]
    return weakref.WeakValueDictionary, (dict(mapping),)


def _private_key(key: Any) -> tuple[Any, tuple[bytes]]:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return _load_key, (pem,)


def _load_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, None)


def _defaultdict(mapping: defaultdict) -> tuple[Any, ...]:  # type: ignore[type-arg]
    """A defaultdict whose factory is a lambda (moto's nested maps) gets a factory that builds the same."""
    return type(mapping), (_named(mapping.default_factory),), None, None, iter(mapping.items())


def _named(factory: Callable[[], Any] | None) -> Callable[[], Any] | None:
    if factory is None or getattr(factory, "__name__", "") != "<lambda>":
        return factory
    sample = factory()
    if isinstance(sample, defaultdict):
        return partial(defaultdict, _named(sample.default_factory))
    if type(sample) in (dict, list, set) and not sample:
        return type(sample)
    raise pickle.PicklingError(f"cannot name the factory of a defaultdict that builds {sample!r}")


def _parameter_dict(parameters: ParameterDict) -> tuple[Any, ...]:
    return _new_parameter_dict, (dict(vars(parameters)), dict(parameters))


def _new_parameter_dict(fields: dict[str, Any], items: dict[str, Any]) -> ParameterDict:
    parameters = ParameterDict(fields["account_id"], fields["region_name"])
    vars(parameters).update(fields)
    parameters.update(items)
    return parameters


def _execution(execution: Execution) -> tuple[Any, tuple[Any, dict[str, Any], list[Any]]]:
    worker = execution.exec_worker
    env = getattr(worker, "env", None)
    events = env.event_manager.get_event_history() if env is not None else []
    fields = {k: v for k, v in vars(execution).items() if k != "exec_worker"}
    return _restored_execution, (type(execution), fields, events)


def _restored_execution(cls: type[Execution], fields: dict[str, Any], events: list[Any]) -> Execution:
    execution = cls.__new__(cls)
    vars(execution).update(fields)
    execution.exec_worker = _EndedWorker(events)  # type: ignore[assignment]
    return execution


class _EndedWorker:
    """What moto asks of an execution's worker, for an execution no thread runs any more: its history, and no
    callbacks waiting (a task token sent to it is refused as Step Functions refuses a stopped one's)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        history = SimpleNamespace(get_event_history=lambda: [dict(e) for e in self.events])
        callbacks = SimpleNamespace(notify=lambda **_: False, heartbeat=lambda **_: False)
        self.env = SimpleNamespace(event_manager=history, callback_pool_manager=callbacks)

    def stop(self, **_: Any) -> None:
        return None


_REDUCERS: dict[Any, Any] = {
    **copyreg.dispatch_table,
    type(threading.Lock()): _new_lock,
    type(threading.RLock()): _new_rlock,
    weakref.WeakValueDictionary: _weak_values,
    type(rsa.generate_private_key(65537, 2048)): _private_key,  # a key only to name its class
    type(ec.generate_private_key(ec.SECP256R1())): _private_key,
    defaultdict: _defaultdict,
    ParameterDict: _parameter_dict,
    Execution: _execution,
    SyncExecution: _execution,
}


# executions the restart interrupted


def running_executions() -> list[Execution]:
    found = []
    for backend_dict in list(_in_use()):
        for regions in list(backend_dict.values()):
            for backend in list(regions.values()):
                for machine in getattr(backend, "state_machines", []):
                    found += [e for e in getattr(machine, "executions", []) if isinstance(e, Execution)
                              and e.exec_status == ExecutionStatus.RUNNING]
    return found


def _interrupt_running(saved_at: float) -> list[Execution]:
    ended = running_executions()
    now = dt.datetime.now(tz=dt.UTC)
    for execution in ended:
        state = last_state(execution)
        saved = time.strftime("%H:%M:%S", time.localtime(saved_at))
        cause = (f"The sandbox stopped (a crash, a kill or a reboot) while this release was at "
                 f"'{state[0] if state else 'its start'}' (state saved at {saved}); it was ended when the sandbox "
                 "started again, as the thread that ran it was gone.")
        execution.exec_status = ExecutionStatus.ABORTED
        execution.stop_date = now
        execution.error, execution.cause = INTERRUPTED, cause
        worker = execution.exec_worker
        assert isinstance(worker, _EndedWorker)
        last_id = worker.events[-1]["id"] if worker.events else 0
        worker.events.append({"timestamp": now, "type": "ExecutionAborted", "id": last_id + 1,
                              "previousEventId": last_id,
                              "executionAbortedEventDetails": {"error": INTERRUPTED, "cause": cause}})
    return ended


def record_cause(execution: Execution, cause: str) -> None:
    """The interrupted execution's cause, in its description and its ExecutionAborted event."""
    execution.cause = cause
    worker = execution.exec_worker
    if isinstance(worker, _EndedWorker) and worker.events:
        worker.events[-1]["executionAbortedEventDetails"]["cause"] = cause


def _history_length(execution: Execution) -> int:
    env = getattr(execution.exec_worker, "env", None)
    return len(getattr(getattr(env, "event_manager", None), "_history_event_list", ()))


def last_state(execution: Execution) -> tuple[str, dict[str, Any]] | None:
    """The last state the execution entered, and its input: the release's whole state at that point."""
    worker = execution.exec_worker
    for event in reversed(getattr(worker, "events", [])):
        details = event.get("stateEnteredEventDetails")
        if details:
            return str(details["name"]), json.loads(details.get("input") or "{}")
    return None
