"""Steady load on a local listener: clients requesting it non-stop, each answer's status counted.

The sandbox tests and the benchmarks use it to show that moving traffic fails no request, and to give the judge
traffic to compare.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections import Counter
from collections.abc import Iterator


@contextlib.contextmanager
def steady_load(port: int, threads: int = 6, path: str = "/version") -> Iterator[Counter[int | str]]:
    """While the block runs, `threads` clients request http://127.0.0.1:PORT/PATH back to back; the counter holds
    each answer's status, or the name of the error when there was no answer."""
    statuses: Counter[int | str] = Counter()
    stop = threading.Event()

    def hammer() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                statuses[response.status] += 1
            except (OSError, http.client.HTTPException) as exc:
                statuses[type(exc).__name__] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.close()

    workers = [threading.Thread(target=hammer, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield statuses
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=15)
