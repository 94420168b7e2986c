"""Human output (progress lines, tables) and machine output (--json) from one place."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO


class Console:
    def __init__(self, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.started = time.monotonic()

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:5.1f}s"

    def say(self, text: str = "") -> None:
        """Progress and explanations; in --json mode they go to stderr so stdout stays parseable."""
        print(text, file=sys.stderr if self.as_json else self.stream, flush=True)

    def error(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def step(self, text: str) -> None:
        self.say(f"[{self.elapsed()}] {text}")

    def result(self, data: dict[str, Any], lines: list[str]) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, default=str), file=self.stream, flush=True)
        else:
            for line in lines:
                print(line, file=self.stream, flush=True)


def table(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(k) for k, _ in rows), default=0)
    return [f"  {k.ljust(width)}  {v}" for k, v in rows]
