"""The function's configuration (table names, topic ARNs, the approval URL): the one place handlers read it.

On Lambda the function's variables are the process environment. A runner that executes several
functions in one interpreter (the test suite's in-process runner, from several threads at once)
cannot give each invocation its own process environment, and must not change the shared one; it
sets the invocation's variables here instead, for the invoking thread only. Read settings when a
handler runs, never at import time: an import may happen outside any invocation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

_invocation: ContextVar[Mapping[str, str] | None] = ContextVar("invocation_settings", default=None)


def setting(name: str) -> str:
    """The variable `name` of the running invocation; KeyError when the function was deployed without it."""
    variables = _invocation.get()
    # Within an invocation only its own variables count, as on Lambda: the host's would hide a missing one.
    return (os.environ if variables is None else variables)[name]


@contextmanager
def invocation_settings(variables: Mapping[str, str]) -> Iterator[None]:
    """Run the block (in this thread and context only) as an invocation configured with `variables`."""
    token = _invocation.set(MappingProxyType(dict(variables)))
    try:
        yield
    finally:
        _invocation.reset(token)


def runtime_variables() -> Mapping[str, str]:
    """The process's own variables: the Lambda runtime's and the libraries' (LAMBDA_TASK_ROOT, POWERTOOLS_*).

    Not a function's configuration: they are the same for every function a process runs, and may be read
    at import time (the tracing seam decides there whether to load the X-Ray SDK).
    """
    return os.environ
