"""The gate a snapshot of the sandbox's state is taken behind, so that it is consistent across services.

Every AWS request to the sandbox and every pass of an emulator that changes moto's state is an activity. A
snapshot waits for a moment with no activity under way and takes it then, holding new activities back only for
as long as the pickling takes. Under activities that keep overlapping it stops admitting new ones, for a bounded
time; if one under way does not end (it could be waiting for something held back), it gives up and the gate
opens again. A Lambda invocation is no activity: it only waits for its function, whose calls are requests.

The gate also counts the activities that may have changed the state, so that an idle sandbox takes no snapshot.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

_INVOKE = re.compile(r"^/\d{4}-\d\d-\d\d/functions/[^/]+/invocations$")
_READS = ("Describe", "List", "Get", "BatchGet", "Query", "Scan")


class Gate:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0
        self._closed = False
        self.changes = 0  # activities that may have changed the state

    @contextmanager
    def activity(self, changing: bool = True) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._closed)
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self.changes += int(changing)
                self._changed.notify_all()

    def touch(self) -> None:
        """Something outside the gate changed the state (a pipeline's run, between its requests)."""
        with self._changed:
            self.changes += 1

    @contextmanager
    def quiet(self, timeout: float) -> Iterator[bool]:
        """No activity under way while the block runs (True), or none could be had within `timeout` (False)."""
        with self._changed:
            # first without holding anyone back: the gate closes at a moment nothing runs
            quiet = self._changed.wait_for(lambda: self._active == 0, timeout / 2)
            self._closed = True
            if not quiet:
                quiet = self._changed.wait_for(lambda: self._active == 0, timeout / 2)
        try:
            yield quiet
        finally:
            with self._changed:
                self._closed = False
                self._changed.notify_all()

    def wsgi(self, app: Callable[..., Any]) -> Callable[..., Any]:
        def gated(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if _INVOKE.match(str(environ.get("PATH_INFO") or "")):
                return app(environ, start_response)
            with self.activity(changing=changes_state(environ)):
                body = app(environ, start_response)
                try:
                    return list(body)  # built inside the gate; moto's answers are in memory anyway
                finally:
                    getattr(body, "close", lambda: None)()

        return gated


def changes_state(environ: dict[str, Any]) -> bool:
    """Whether an AWS request may change the state: any but a read (Describe*, List*, Get*, ...), by its operation
    where the protocol names it (JSON's target, CBOR's path, the query protocol's Action), else its method.

    A few reads change moto's records (DescribeTasks advances a task, GetObject an object's access time); the
    next change saves those too."""
    operation = str(environ.get("HTTP_X_AMZ_TARGET") or "").rpartition(".")[2]
    path = str(environ.get("PATH_INFO") or "")
    if not operation and "/operation/" in path:
        operation = path.rsplit("/", 1)[-1]
    if not operation:
        operation = _action(environ)
    if operation:
        return not operation.startswith(_READS)
    return environ.get("REQUEST_METHOD") not in ("GET", "HEAD")


def _action(environ: dict[str, Any]) -> str:
    found = parse_qs(str(environ.get("QUERY_STRING") or "")).get("Action")
    if found:
        return found[0]
    length = environ.get("CONTENT_LENGTH")
    if not length or not str(environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        return ""  # a body of unknown length (chunked) is left to moto: the method decides
    body = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)  # read once here; moto reads it again
    return str((parse_qs(body.decode(errors="replace")).get("Action") or [""])[0])
