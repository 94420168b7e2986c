"""One release at a time per load balancer: a lock item written with a condition.

The lock names the execution that holds it. A release that finds the lock held asks Step Functions
whether the holder still runs: if it does, the release stops at once with ReleaseInProgress; if it
does not (it failed before releasing, or was stopped), the lock is taken over, conditionally on the
same dead holder, so two releases can never both take it over.
"""

from __future__ import annotations

from dataclasses import dataclass

from .exceptions import ReleaseInProgress
from .gateways.locks import LockStore
from .gateways.workflow import Workflow


@dataclass(frozen=True)
class Lock:
    key: str
    holder: str
    took_over_from: str | None = None


def acquire(store: LockStore, workflow: Workflow, key: str, execution_arn: str, now: int) -> Lock:
    holder = store.put_if_free(key, execution_arn, now)
    if holder is None or holder == execution_arn:  # free, or ours already (a retried attempt)
        return Lock(key, execution_arn)
    status = workflow.execution_status(holder)
    if status == "RUNNING":
        raise ReleaseInProgress(
            f"Release {holder.rsplit(':', 1)[-1]} is running on this load balancer ({holder}). Wait for it to "
            "finish (`python3 deploy.py status` shows where it is), then release again. Nothing was changed.")
    if not store.take_over(key, holder, execution_arn, now):
        raise ReleaseInProgress(f"Another release took the lock of finished release {holder} first. "
                                "Nothing was changed; release again when it has finished.")
    return Lock(key, execution_arn, took_over_from=holder)
