"""Delivering an approval decision exactly once, from the web page or from the command line.

The record is claimed with a conditional write before anything is sent, so replays and concurrent
duplicates find it decided; if the decision cannot be delivered, the claim is released.
"""

from __future__ import annotations

from enum import StrEnum

from .approval import (
    ApprovalRecord,
    Decision,
    LinkState,
    compute_link_state,
    compute_rejection_cause,
    compute_task_output,
)
from .exceptions import ApprovalNoLongerPending, ApprovalRejected, AwsTransientError
from .gateways.approvals import ApprovalStore
from .gateways.workflow import Workflow


class Delivery(StrEnum):
    DELIVERED = "delivered"
    ALREADY_DECIDED = "already-decided"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    NO_LONGER_PENDING = "no-longer-pending"
    TRY_AGAIN = "try-again"


def deliver_decision(store: ApprovalStore, workflow: Workflow, record: ApprovalRecord | None,
                     decision: Decision) -> Delivery:
    """`record` is the approval as the caller just read it (None: unknown link)."""
    state = compute_link_state(record, decision.at)
    if state is not LinkState.PENDING or record is None:
        return _closed(state)
    key = record.key
    if not store.claim(key, decision):  # another decision, or the deadline, won the race
        return _closed(compute_link_state(store.get(key), decision.at))
    try:
        if decision.approved:
            workflow.send_success(record.task_token, compute_task_output(decision))
        else:
            workflow.send_failure(record.task_token, ApprovalRejected.__name__, compute_rejection_cause(decision))
    except ApprovalNoLongerPending:
        return Delivery.NO_LONGER_PENDING
    except AwsTransientError:
        store.release(key, decision)  # nothing reached the execution: the link works again
        return Delivery.TRY_AGAIN
    return Delivery.DELIVERED


def _closed(state: LinkState) -> Delivery:
    return {LinkState.DECIDED: Delivery.ALREADY_DECIDED, LinkState.EXPIRED: Delivery.EXPIRED}.get(
        state, Delivery.UNKNOWN)
