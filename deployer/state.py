"""What `observe` reads, as plain immutable values: the input of planning (no AWS here, so planning stays pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from release.images import SIDES as _SIDES

SIDES = tuple(sorted(_SIDES))  # Code1, Code2


@dataclass(frozen=True)
class StackState:
    name: str
    status: str
    parameters: Mapping[str, str]
    outputs: Mapping[str, str]
    template: Mapping[str, Any] | None = None  # the deployed template, when it was read

    def parameter(self, key: str, default: str = "") -> str:
        return self.parameters.get(key) or default


@dataclass(frozen=True)
class BucketState:
    name: str
    exists: bool
    region: str | None = None
    readable: bool = True


@dataclass(frozen=True)
class Observed:
    """The deployed system as read at one moment; what a plan is made from."""

    account: str
    region: str
    parent: StackState | None
    service: StackState | None
    bucket: BucketState | None = None
    present_keys: frozenset[str] = frozenset()  # artifact keys already in the bucket
    live_side: str | None = None  # Code1/Code2 behind the production listener; None when not read
    running: tuple[str, ...] = ()  # executions of the state machine still running: releases in progress

    @property
    def outputs(self) -> Mapping[str, str]:
        return self.parent.outputs if self.parent else MappingProxyType({})
