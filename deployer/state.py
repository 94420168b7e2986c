"""What `observe` reads, as plain immutable values: the input of planning (no AWS here, so planning stays pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
class OwnedBucket:
    """A bucket that a stack (or one of its nested stacks) created: deleting the stack deletes it too, unless the
    template retains it. CloudFormation deletes only an empty bucket."""

    name: str
    stack: str  # the top-level stack
    retained: bool  # DeletionPolicy Retain: it outlives the stack


@dataclass(frozen=True)
class Partition:
    """Where a region is: its partition names ARNs (aws, aws-cn, aws-us-gov), its DNS suffix endpoints."""

    name: str
    dns_suffix: str


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
    owned_buckets: tuple[OwnedBucket, ...] = ()  # the stacks' own buckets; read for a teardown only
    partition: Partition = field(kw_only=True)  # the region's: stated, never assumed to be the commercial one

    @property
    def outputs(self) -> Mapping[str, str]:
        return self.parent.outputs if self.parent else MappingProxyType({})
