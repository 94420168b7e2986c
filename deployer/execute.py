"""Execute: perform a plan's steps with progress, or only show them (`--dry-run`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from . import artifacts, stacks
from .console import Console
from .errors import DeployError
from .plan import (
    CreateBucket,
    DeleteBucket,
    DeleteStack,
    DeployStack,
    EmptyBucket,
    Keep,
    Output,
    Step,
    Upload,
    Value,
    describe,
)
from .target import Target


@dataclass
class Results:
    """What the steps did: each stack's outcome and outputs, and what was deleted or kept."""

    stacks: dict[str, stacks.StackResult] = field(default_factory=dict)
    uploaded: int = 0
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class Executor(Protocol):
    def run(self, steps: Sequence[Step]) -> Results: ...


class DisplayExecutor:
    """Prints each step and does nothing else: what `--dry-run` is."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def run(self, steps: Sequence[Step]) -> Results:
        results = Results()
        for step in steps:
            for line in describe(step):
                self.console.say(f"  would {line}" if not line.startswith("    ") else line)
            if isinstance(step, DeployStack):
                results.stacks[step.name] = stacks.StackResult(stacks.Outcome.PLANNED, list(step.preview))
            if isinstance(step, Keep):
                results.kept.append(f"{step.what}: {step.why}")
        return results


class AwsExecutor:
    """Performs each step through the target's AWS APIs, narrating progress."""

    def __init__(self, target: Target, console: Console, objects: Mapping[str, bytes] | None = None) -> None:
        self.target = target
        self.console = console
        self.objects = objects or {}

    def run(self, steps: Sequence[Step]) -> Results:
        results = Results()
        for step in steps:
            self._one(step, results)
        return results

    def _one(self, step: Step, results: Results) -> None:
        s3, cfn, say = self.target.client("s3"), self.target.client("cloudformation"), self.console.step
        match step:
            case CreateBucket(name, region, tls_only):
                artifacts.create_bucket(s3, name, region, tls_only)
                say(describe(step)[0].replace("create ", "created ", 1))
            case Upload(bucket, keys, unchanged):
                artifacts.upload(s3, bucket, {key: self.objects[key] for key in keys})
                results.uploaded = len(keys)
                say(f"uploaded {len(keys)} new object(s) to s3://{bucket} ({unchanged} unchanged)")
            case DeployStack(name, url, parameters, create, _):
                say(f"{'creating' if create else 'updating'} stack {name}")
                result = stacks.deploy(cfn, self.console, name, url, self._resolve(parameters, results), create)
                say(f"stack {name}: {_WORDS[result.outcome]}")
                earlier = results.stacks.get(name)
                if earlier is not None and earlier.outcome is stacks.Outcome.CREATED:
                    # created, then completed by a second update (the pipeline): to the user it was created
                    result = replace(result, outcome=stacks.Outcome.CREATED, changes=earlier.changes + result.changes)
                results.stacks[name] = result
            case DeleteStack(name):
                say(f"deleting stack {name}")
                if stacks.delete(cfn, self.console, name):
                    results.deleted.append(f"stack {name}")
            case EmptyBucket(name, _):
                # An error stops here: deleting the stack now would only leave it DELETE_FAILED.
                say(f"emptied bucket {name}: {artifacts.empty(s3, name)} object version(s) and delete marker(s) "
                    "deleted")
            case DeleteBucket(name):
                try:
                    artifacts.empty_and_delete(s3, name)
                    results.deleted.append(f"bucket {name}")
                except Exception as exc:  # noqa: BLE001 - report and go on: the stacks are gone already
                    results.kept.append(f"bucket {name}: could not delete it ({exc}); empty and delete it by hand")
            case Keep(what, why):
                results.kept.append(f"{what}: {why}")

    def _resolve(self, parameters: Mapping[str, Value], results: Results) -> stacks.Parameters:
        """Outputs of stacks deployed by earlier steps (or deployed before) become values."""
        resolved: stacks.Parameters = {}
        for key, value in parameters.items():
            if isinstance(value, Output):
                found = results.stacks[value.stack].outputs if value.stack in results.stacks else {}
                found = found or stacks.outputs(stacks.describe(self.target.client("cloudformation"), value.stack))
                if value.key not in found:
                    raise DeployError(f"Stack {value.stack} has no output {value.key}; deploy it first.")
                resolved[key] = found[value.key]
            else:
                resolved[key] = value
        return resolved


_WORDS = {stacks.Outcome.CREATED: "created", stacks.Outcome.UPDATED: "updated",
          stacks.Outcome.UNCHANGED: "unchanged: nothing to do", stacks.Outcome.PLANNED: "planned"}
