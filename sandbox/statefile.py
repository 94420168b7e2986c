"""The sandbox's saved state on disk: one file, replaced whole, checked before anything reads it.

The file is a header line (what wrote it, the payload's size and SHA-256) and the payload. It is written to a
temporary file, flushed to disk, renamed over the previous one, and the folder flushed: a crash at any moment
(`kill -9`, power loss) leaves either the previous whole snapshot or the new one, never a mix. A file cut short
or changed on disk fails its digest and is refused, as is one another version of the project wrote (its Python
objects may not mean the same to this one). Nothing here imports moto: `deploy.py` checks the file before it
starts the sandbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

NAME = "state.bin"
MAGIC = b"ecs-bluegreen sandbox state\n"
FORMAT = 1  # raise when what the payload holds changes meaning
ROOT = Path(__file__).resolve().parent.parent
AFRESH = "`python3 deploy.py down` (removes the sandbox and its state), then `python3 deploy.py`"


class StateFileError(Exception):
    """The saved state cannot be loaded; the message says why and how to start afresh."""


@dataclass(frozen=True)
class Header:
    writer: str  # `writer()` of the project that wrote it
    written: float
    size: int
    sha256: str


@cache
def writer() -> str:
    """What must match for a payload to mean the same: the format, Python, moto, and the sandbox's own code
    (its classes are in the payload)."""
    code = hashlib.sha256()
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        code.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"format {FORMAT}, python {python}, moto {version('moto')}, sandbox code {code.hexdigest()[:12]}"


def path_in(state: Path) -> Path:
    return state / NAME


def write(state: Path, payload: bytes, written: float) -> None:
    """Replace the saved state with `payload`, atomically and durably."""
    header = {"writer": writer(), "written": written, "size": len(payload),
              "sha256": hashlib.sha256(payload).hexdigest()}
    final = path_in(state)
    descriptor, temporary = tempfile.mkstemp(dir=state, prefix=f".{NAME}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(MAGIC + json.dumps(header).encode() + b"\n")
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(state, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power loss
    finally:
        os.close(folder)


def remove_leftovers(state: Path) -> None:
    """Temporary files a crash left in the middle of a write: never the saved state itself."""
    for leftover in state.glob(f".{NAME}.*.tmp"):
        leftover.unlink(missing_ok=True)


def read(state: Path) -> tuple[Header, bytes] | None:
    """The saved header and payload, checked; None when there is no saved state."""
    path = path_in(state)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return check(path, data)


def check(path: Path, data: bytes) -> tuple[Header, bytes]:
    if not data.startswith(MAGIC):
        raise StateFileError(f"{path} is not a saved sandbox state (it does not start as one), so the sandbox "
                             f"cannot load it. Nothing was changed. To start afresh: {AFRESH}.")
    line, newline, payload = data[len(MAGIC):].partition(b"\n")
    try:
        raw = json.loads(line)
        header = Header(str(raw["writer"]), float(raw["written"]), int(raw["size"]), str(raw["sha256"]))
    except (ValueError, KeyError, TypeError):
        raise StateFileError(f"The saved sandbox state {path} has a damaged header, so the sandbox cannot load "
                             f"it. Nothing was changed. To start afresh: {AFRESH}.") from None
    if header.writer != writer():
        raise StateFileError(
            f"The saved sandbox state {path} was written by another version of this project ({header.writer}; "
            f"this one is {writer()}), whose saved objects this version may not read correctly. Nothing was "
            f"changed. Run that version again to use it, or start afresh: {AFRESH}.")
    if not newline or len(payload) != header.size or hashlib.sha256(payload).hexdigest() != header.sha256:
        raise StateFileError(
            f"The saved sandbox state {path} is damaged: {len(payload)} of its {header.size} bytes are there "
            f"{'and they do not match their digest' if len(payload) == header.size else '(it was cut short)'}. "
            f"Nothing was changed; the file is left for you to inspect. To start afresh: {AFRESH}.")
    return header, payload
